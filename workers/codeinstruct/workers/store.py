"""Object storage: a local directory (the embedded default) or S3-compatible storage (MinIO).

Every write is atomic: a reader sees the whole object or none of it (local: temp file + rename;
S3: one PUT). Nothing is ever appended to a shared object.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from codeinstruct.workers.errors import UserError


class StoreError(UserError):
    """Storage that cannot be reached or used; the message says which and how to fix it."""


class Store(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def uri(self, key: str = "") -> str: ...


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix)
        folder = base if prefix.endswith("/") or base.is_dir() else base.parent
        if not folder.is_dir():
            return []
        keys = (
            p.relative_to(self.root).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )
        return sorted(k for k in keys if k.startswith(prefix))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str = "") -> str:
        return str(self._path(key)) if key else str(self.root)


class S3Store:
    """S3-compatible storage through the `minio` client.

    Endpoint and credentials come from the environment, never from the spec:
    `S3_ENDPOINT_URL` (or `AWS_ENDPOINT_URL`; default AWS), `AWS_ACCESS_KEY_ID`,
    `AWS_SECRET_ACCESS_KEY`, optional `AWS_REGION`.
    """

    def __init__(self, bucket: str, prefix: str = "") -> None:
        from minio import Minio

        endpoint = os.environ.get("S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        parsed = urlparse(endpoint or "https://s3.amazonaws.com")
        if not parsed.netloc:
            raise StoreError(
                f"S3_ENDPOINT_URL={endpoint!r} is not a URL; set it like http://minio:9000"
            )
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = Minio(
            parsed.netloc,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            region=os.environ.get("AWS_REGION"),
            secure=parsed.scheme == "https",
        )
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from minio.error import S3Error

        try:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)
        except S3Error as error:
            raise StoreError(f"s3://{self.bucket}: {error.code}: {error.message}") from None
        except Exception as error:  # connection refused, DNS, TLS: all mean unreachable
            raise StoreError(
                f"s3://{self.bucket}: storage unreachable ({type(error).__name__}: {error}); "
                "check S3_ENDPOINT_URL and the credentials"
            ) from None

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(self.bucket, self._key(key), io.BytesIO(data), len(data))

    def get(self, key: str) -> bytes:
        from minio.error import S3Error

        try:
            response = self.client.get_object(self.bucket, self._key(key))
        except S3Error as error:
            if error.code in {"NoSuchKey", "NoSuchObject"}:
                raise KeyError(key) from None
            raise
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        try:
            self.client.stat_object(self.bucket, self._key(key))
        except S3Error as error:
            if error.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                return False
            raise
        return True

    def list(self, prefix: str) -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        objects = self.client.list_objects(self.bucket, prefix=self._key(prefix), recursive=True)
        return sorted(o.object_name[strip:] for o in objects if o.object_name)

    def delete(self, key: str) -> None:
        self.client.remove_object(self.bucket, self._key(key))

    def uri(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(key)}".rstrip("/")


def open_store(uri: str) -> Store:
    """`s3://bucket/prefix` or a local directory (`file://` allowed)."""
    parsed = urlparse(uri)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StoreError(f"{uri!r}: an S3 URI needs a bucket, like s3://bucket/prefix")
        return S3Store(parsed.netloc, parsed.path)
    if parsed.scheme == "file":
        return LocalStore(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:
        raise StoreError(f"{uri!r}: unsupported scheme; use a local path, file:// or s3://")
    return LocalStore(uri)
