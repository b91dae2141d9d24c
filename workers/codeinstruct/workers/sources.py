"""Where a run's input comes from: listing the files of a source, reading their bytes, and
reading JSONL and Parquet rows, each problem a per-row drop reason rather than a crash.

A source `uri` is `stdlib` (this interpreter's standard library; `stdlib/<glob>` for part of
it), a local file, folder or glob, `file://...`, or `s3://bucket/prefix`. Folder walks skip
virtual environments, caches and VCS folders; folder walks and globs (`**` included) never follow
symlinked folders, so a symlink loop is walked once. Reading never blocks: a FIFO, socket or
device is a `not_a_regular_file` drop. Used by the seed miner (SelfCodeAlign, WaveCoder) and the
instruction pool reader (XCoder).
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import os
import re
import stat
import sysconfig
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
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
    if _is_glob(path):
        return sorted(glob_files(path))
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


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


def glob_files(pattern: str) -> Iterator[str]:
    """The files matching `pattern` (`*`, `?`, `[...]` within a name, `**` for any folders; a
    leading `.` is only matched literally), found by one walk that never enters a symlinked
    folder. `glob.glob(recursive=True)` follows them, and two symlink loops make it endless."""
    parts = pattern.split("/")
    first = next(i for i, part in enumerate(parts) if _is_glob(part))
    base = "/".join(parts[:first]) or ("/" if pattern.startswith("/") else ".")
    rest = parts[first:]
    if rest[-1] == "**":
        rest.append("*")
    regex = re.compile(_glob_regex(rest))
    depth = None if "**" in rest else len(rest) - 1  # folders below `base` worth entering
    for folder, dirs, names in os.walk(base, followlinks=False):
        relative = os.path.relpath(folder, base)
        level = 0 if relative == "." else relative.count(os.sep) + 1
        if depth is not None and level >= depth:
            dirs.clear()
        dirs.sort()
        for name in names:
            inside = name if relative == "." else f"{relative}/{name}"
            if regex.fullmatch(inside):
                yield os.path.join(folder, name) if base != "." else inside


def _glob_regex(parts: list[str]) -> str:
    pieces = []
    for part in parts:
        if part == "**":
            pieces.append(r"(?:[^/.][^/]*/)*")
        else:
            pieces.append(_name_regex(part) + "/")
    return "".join(pieces).removesuffix("/")


def _name_regex(part: str) -> str:
    out = [r"(?!\.)"] if part[:1] in ("*", "?", "[") else []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[" and part.find("]", i + 2) != -1:
            end = part.index("]", i + 2)
            body = part[i + 1 : end]
            negate = body.startswith("!")
            body = re.escape(body[1:] if negate else body).replace(r"\-", "-")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def read_local(path: str, max_bytes: int | None = None) -> bytes | BadRow:
    """A local file's bytes (at most one past `max_bytes`, enough to tell it is too large), or
    a BadRow: `not_a_regular_file` (a FIFO, socket or device: opened without blocking, never
    read) or `unreadable_file`."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return BadRow("unreadable_file")
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return BadRow("not_a_regular_file")
        os.set_blocking(descriptor, True)
        with os.fdopen(descriptor, "rb", closefd=False) as handle:
            return handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    except OSError:
        return BadRow("unreadable_file")
    finally:
        os.close(descriptor)


def read_source_file(uri: str, name: str) -> bytes:
    """The bytes of one listed file of the source `uri`; a UserError when it cannot be read."""
    if is_s3(uri):
        return open_store(uri).get(name)
    try:
        return Path(name).read_bytes()
    except OSError as error:
        raise UserError(f"source.uri: cannot read {name}: {error.strerror}") from None


def iter_rows(name: str, data: bytes, parquet: bool) -> Iterator[tuple[int, Any]]:
    """(row number, row or BadRow) for a JSONL file (`.gz` decompressed) or a Parquet file; a
    broken or truncated gzip file is one `bad_gzip` row (number 0)."""
    if name.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            yield 0, BadRow("bad_gzip")
            return
    if parquet:
        yield from _parquet_rows(data)
        return
    for number, row in iter_jsonl(data):
        yield number, BadRow(row.reason) if isinstance(row, BadLine) else row


def _parquet_rows(data: bytes) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception:  # a broken file is one drop, not a crash
        yield 0, BadRow("bad_parquet")
        return
    yield from enumerate(table.to_pylist(), 1)
