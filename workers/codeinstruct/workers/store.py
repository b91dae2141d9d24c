"""Object storage: a local directory (the embedded default) or S3-compatible storage (MinIO).

Every write is atomic: a reader sees the whole object or none of it (local: temp file + rename;
S3: one PUT). Nothing is ever appended to a shared object. S3 requests ride out transient faults
(`storage_retry`); a fault that outlasts its retries, or a local write that fails (disk full, no
permission), is a `StoreError` whose one line names the URI or path.

`create` and `replace` are conditional writes (S3: `If-None-Match: *` and `If-Match: <etag>`;
local: under an exclusive `flock`), the primitives of the run lease.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.storage_retry import RetryPolicy, StorageFault

T = TypeVar("T")


class StoreError(UserError):
    """Storage that cannot be reached or used; the message says which and how to fix it."""


class Store(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def uri(self, key: str = "") -> str: ...
    def create(self, key: str, data: bytes) -> str | None: ...
    def read_version(self, key: str) -> tuple[bytes, str]: ...
    def replace(self, key: str, data: bytes, version: str) -> str | None: ...


class LocalStore:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def _path(self, key: str) -> Path:
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._failing(path, "cannot write"):
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
        path = self._path(key)
        try:
            with self._failing(path, "cannot read"):
                return path.read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    @contextlib.contextmanager
    def _failing(self, path: Path, action: str) -> Iterator[None]:
        """OSError as one line naming the path (FileNotFoundError passes: it means absent)."""
        try:
            yield
        except FileNotFoundError as error:
            if error.filename not in (str(path), None):
                raise StoreError(f"{path}: {action}: {error.strerror} ({error.filename})") from None
            raise
        except OSError as error:
            if error.errno == errno.ENOSPC:
                raise StoreError(
                    f"{path}: no space left on the device holding {self.root}; free space "
                    "and rerun: committed shards are kept and the run resumes"
                ) from None
            raise StoreError(
                f"{path}: {action} ({error.strerror or error}); choose a writable output.uri "
                "or fix the permissions"
            ) from None

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

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        with self._failing(path, "cannot lock"):
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield path
        finally:
            os.close(lock)

    def create(self, key: str, data: bytes) -> str | None:
        with self._locked(key) as path:
            if path.exists():
                return None
            self.put(key, data)
            return _digest(data)

    def read_version(self, key: str) -> tuple[bytes, str]:
        with self._locked(key):
            data = self.get(key)
        return data, _digest(data)

    def replace(self, key: str, data: bytes, version: str) -> str | None:
        with self._locked(key):
            try:
                current = self.get(key)
            except KeyError:
                return None
            if _digest(current) != version:
                return None
            self.put(key, data)
            return _digest(data)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class S3Store:
    """S3-compatible storage through the `minio` client.

    Endpoint and credentials come from the environment, never from the spec:
    `S3_ENDPOINT_URL` (or `AWS_ENDPOINT_URL`; default AWS), `AWS_ACCESS_KEY_ID`,
    `AWS_SECRET_ACCESS_KEY`, optional `AWS_REGION`; timeouts and the retry budget from
    `CODEINSTRUCT_S3_TIMEOUT_SECONDS` and `CODEINSTRUCT_S3_RETRY_SECONDS` (`storage_retry`).
    """

    def __init__(self, bucket: str, prefix: str = "", policy: RetryPolicy | None = None) -> None:
        import certifi
        import urllib3
        from minio import Minio

        endpoint = os.environ.get("S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL")
        parsed = urlparse(endpoint or "https://s3.amazonaws.com")
        if not parsed.netloc:
            raise StoreError(
                f"S3_ENDPOINT_URL={endpoint!r} is not a URL; set it like http://minio:9000"
            )
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.policy = policy or RetryPolicy.from_env()
        timeout = self.policy.timeout_seconds
        # One retry loop (ours, with a time budget) instead of urllib3's: it also covers bodies
        # cut short and stalls, which urllib3 cannot retry once the headers are in.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=False,
            maxsize=16,
            cert_reqs="CERT_REQUIRED",
            ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        )
        self.client = Minio(
            parsed.netloc,
            access_key=os.environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=os.environ.get("AWS_SECRET_ACCESS_KEY"),
            region=os.environ.get("AWS_REGION"),
            secure=parsed.scheme == "https",
            http_client=http,
        )
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        def ensure() -> None:
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)

        # Fail fast on a wrong endpoint: at most 10 s of retries before anything was written.
        budget = min(self.policy.budget_seconds, 10.0)
        policy, self.policy = self.policy, dataclasses.replace(self.policy, budget_seconds=budget)
        try:
            self._retrying("open", "", ensure)
        except ValueError as error:  # minio's own checks, such as the bucket name
            raise StoreError(f"s3://{self.bucket}: {error}") from None
        finally:
            self.policy = policy

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _retrying(self, action: str, key: str, attempt: Callable[[], T]) -> T:
        """`attempt()` with retries; what still fails is one StoreError naming the URI."""
        from minio.error import S3Error

        try:
            return self.policy.call(attempt)
        except StorageFault as fault:
            raise StoreError(
                f"{self.uri(key)}: {action} failed {fault.attempts} times in "
                f"{fault.seconds:.0f} s ({fault.fault}); storage unreachable: check "
                "S3_ENDPOINT_URL, the credentials and the server, then rerun to resume"
            ) from None
        except S3Error as error:
            if error.code in {"NoSuchKey", "NoSuchObject", "NotFound"}:
                raise
            raise StoreError(f"{self.uri(key)}: {action}: {error.code}: {error.message}") from None

    def put(self, key: str, data: bytes) -> None:
        name = self._key(key)
        self._retrying(
            "write",
            key,
            lambda: self.client.put_object(self.bucket, name, io.BytesIO(data), len(data)),
        )

    def get(self, key: str) -> bytes:
        return self.read_version(key)[0]

    def read_version(self, key: str) -> tuple[bytes, str]:
        from minio.error import S3Error

        def read() -> tuple[bytes, str]:
            response = self.client.get_object(self.bucket, self._key(key))
            try:
                return response.read(), response.headers.get("etag", "").strip('"')
            finally:
                response.close()
                response.release_conn()

        try:
            return self._retrying("read", key, read)
        except S3Error:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        from minio.error import S3Error

        try:
            self._retrying(
                "stat", key, lambda: self.client.stat_object(self.bucket, self._key(key))
            )
        except S3Error:
            return False
        return True

    def list(self, prefix: str) -> list[str]:
        strip = len(self.prefix) + 1 if self.prefix else 0

        def listing() -> list[str]:
            objects = self.client.list_objects(
                self.bucket, prefix=self._key(prefix), recursive=True
            )
            return [o.object_name[strip:] for o in objects if o.object_name]

        return sorted(self._retrying("list", prefix, listing))

    def delete(self, key: str) -> None:
        self._retrying(
            "delete", key, lambda: self.client.remove_object(self.bucket, self._key(key))
        )

    def create(self, key: str, data: bytes) -> str | None:
        return self._conditional_put(key, data, {"If-None-Match": "*"})

    def replace(self, key: str, data: bytes, version: str) -> str | None:
        return self._conditional_put(key, data, {"If-Match": f'"{version}"'})

    def _conditional_put(self, key: str, data: bytes, condition: dict[str, str]) -> str | None:
        """PUT only if `condition` holds: the new ETag, or None when it does not.

        A retried PUT whose first try did land also answers PreconditionFailed: callers read the
        object back to tell that apart (the lease compares the owner)."""
        from minio.error import S3Error

        def put() -> Any:
            # minio's public put_object would send these as user metadata (x-amz-meta-*).
            return self.client._put_object(
                self.bucket, self._key(key), data, headers=dict(condition)
            )

        try:
            result = self._retrying("write", key, put)
        except (S3Error, StoreError) as error:
            if "PreconditionFailed" in str(error) or "NoSuchKey" in str(error):
                return None
            raise
        return str(result.etag)

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
