"""Where a run's input comes from: listing the files of a source, reading their bytes, and
reading JSONL and Parquet rows, each problem a per-row drop reason rather than a crash.

A source `uri` is `stdlib` (this interpreter's standard library; `stdlib/<glob>` for part of
it), a local file, folder or glob, `file://...`, or `s3://bucket/prefix`. Folder walks skip
virtual environments, caches and VCS folders and never follow symlinks. Used by the seed miner
(SelfCodeAlign, WaveCoder) and the instruction pool reader (XCoder).
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import os
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import BadLine, iter_jsonl
from codeinstruct.workers.store import open_store

SKIPPED_DIRS = {"site-packages", "dist-packages", "__pycache__", ".git", ".venv", "node_modules"}


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read; `reason` is its drop reason."""

    reason: str


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def list_files(uri: str, suffixes: tuple[str, ...], max_files: int | None = None) -> list[str]:
    """The source's files (local paths, or keys under an S3 prefix), sorted. A folder and an S3
    prefix keep the names ending in `suffixes`; a glob or a single file is taken as given."""
    if is_s3(uri):
        files = [k for k in open_store(uri).list("") if k.endswith(suffixes)]
    else:
        files = _local_files(_local_path(uri), uri, suffixes)
    return files[:max_files] if max_files else files


def _local_path(uri: str) -> str:
    if uri == "stdlib":
        return str(stdlib_root())
    if uri.startswith("stdlib/"):  # a file or glob inside the standard library
        return str(stdlib_root() / uri.removeprefix("stdlib/"))
    return uri.removeprefix("file://")


def _local_files(path: str, uri: str, suffixes: tuple[str, ...]) -> list[str]:
    if any(ch in path for ch in "*?["):
        matches = sorted(p for p in glob(path, recursive=True) if os.path.isfile(p))
        return [p for p in matches if not _through_symlink(p)]
    if os.path.isdir(path):
        files: list[str] = []
        for folder, dirs, names in os.walk(path, followlinks=False):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            files.extend(
                os.path.join(folder, n)
                for n in names
                if any(fnmatch.fnmatch(n, f"*{suffix}") for suffix in suffixes)
            )
        return sorted(files)
    if os.path.exists(path):
        return [path]
    raise UserError(f"source.uri: {uri!r} does not exist")


def _through_symlink(path: str) -> bool:
    """Whether a folder on the way to `path` is a symlink (glob follows them, loops included)."""
    folder = os.path.dirname(path)
    while folder and folder != os.path.dirname(folder):
        if os.path.islink(folder):
            return True
        folder = os.path.dirname(folder)
    return False


def read_local(path: str, max_bytes: int | None = None) -> bytes | None:
    """A local file's bytes (at most one past `max_bytes`, enough to tell it is too large), or
    None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError:
        return None


def read_source_file(uri: str, name: str) -> bytes:
    """The bytes of one listed file of the source `uri`; a UserError when it cannot be read."""
    if is_s3(uri):
        return open_store(uri).get(name)
    try:
        return Path(name).read_bytes()
    except OSError as error:
        raise UserError(f"source.uri: cannot read {name}: {error.strerror}") from None


def iter_rows(name: str, data: bytes, parquet: bool) -> Iterator[tuple[int, Any]]:
    """(row number, row or BadRow) for a JSONL file (`.gz` decompressed) or a Parquet file."""
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    if parquet:
        yield from _parquet_rows(data)
        return
    for number, row in iter_jsonl(data):
        yield number, BadRow("bad_json") if isinstance(row, BadLine) else row


def _parquet_rows(data: bytes) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception:  # a broken file is one drop, not a crash
        yield 0, BadRow("bad_parquet")
        return
    yield from enumerate(table.to_pylist(), 1)
