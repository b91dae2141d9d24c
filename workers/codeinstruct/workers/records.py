"""Records: one JSON object per line, with a stable `id` derived from its content lineage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from codeinstruct.workers.errors import UserError

Record = dict[str, Any]


def content_id(*parts: str) -> str:
    """A stable 16-hex-digit id of the given content (and, for derived records, its parent)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:16]


def derive(parent: Record, stage: str, key: str, **fields: Any) -> Record:
    """A child record: the parent's fields plus `fields`, with an id from parent id + stage + key."""
    child = {**parent, **fields}
    child["id"] = content_id(parent["id"], stage, key)
    return child


def dumps(record: Record) -> bytes:
    return json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"


def encode_jsonl(records: list[Record]) -> bytes:
    return b"".join(dumps(r) for r in records)


def decode_jsonl(data: bytes) -> list[Record]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


@dataclass(frozen=True)
class BadLine:
    """A JSONL line that is not valid JSON (or not UTF-8)."""

    text: bytes


def iter_jsonl(data: bytes) -> Iterator[tuple[int, Any]]:
    """(line number, value or BadLine) for each non-blank line: the one JSONL reader."""
    for number, line in enumerate(data.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except ValueError:
            yield number, BadLine(line)


def jsonl_objects(
    data: bytes,
    label: str,
    expected: str = "a JSON object",
    accept: Callable[[Record], bool] = lambda row: True,
) -> list[Record]:
    """The JSON objects of JSONL `data` (each one `accept`ed); a UserError names `label`, the
    line and what was `expected` there."""
    rows = []
    for number, row in iter_jsonl(data):
        if isinstance(row, BadLine):
            raise UserError(f"{label}:{number}: not valid JSON")
        if not isinstance(row, dict) or not accept(row):
            raise UserError(f"{label}:{number}: expected {expected}")
        rows.append(row)
    return rows


def read_jsonl_file(path: str | Path, what: str = "") -> list[Record]:
    """The JSON objects of a JSONL file; a UserError names the file (and `what` it is for) and the
    line of the first problem."""
    label = f"{what}: {path}" if what else str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise UserError(f"{label}: cannot read ({error.strerror})") from None
    return jsonl_objects(data, label)
