"""Records: one JSON object per line, with a stable `id` derived from its content lineage."""

from __future__ import annotations

import hashlib
import json
import re
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
    """One strict JSON line: NaN, Infinity and lone surrogates raise (readers reject them, so a
    source drops such rows before they get here)."""
    text = json.dumps(record, ensure_ascii=False, sort_keys=True, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def is_text(value: str) -> bool:
    """Whether `value` is valid Unicode text (no lone surrogates: a name that was not UTF-8, or
    a JSON escape such as `\\ud800`), so it can be written as UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """`name` as text: bytes that were not UTF-8 (file names come surrogate-escaped from the OS)
    and lone surrogates are written as backslash escapes, e.g. `bad_\\xff_name.py`."""
    if is_text(name):
        return name
    try:
        return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return name.encode("utf-8", "backslashreplace").decode("ascii")


def encode_jsonl(records: list[Record]) -> bytes:
    return b"".join(dumps(r) for r in records)


def decode_jsonl(data: bytes) -> list[Record]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


@dataclass(frozen=True)
class BadLine:
    """A JSONL line that cannot be a record; `reason` says why: `bad_json`, `not_utf8`,
    `too_deeply_nested`, `non_finite_number` (NaN, Infinity) or `invalid_unicode` (a lone
    surrogate such as `\\ud800`)."""

    text: bytes
    reason: str = "bad_json"

    @property
    def problem(self) -> str:
        """The reason in words."""
        return _PROBLEMS.get(self.reason, self.reason)


_PROBLEMS = {
    "bad_json": "not valid JSON",
    "not_utf8": "not UTF-8 text",
    "too_deeply_nested": "JSON nested too deeply",
    "non_finite_number": "NaN or Infinity (not standard JSON)",
    "invalid_unicode": "a lone surrogate escape such as \\ud800 (not text)",
}


class _NonFinite(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFinite(name)


# A JSON escape of a UTF-16 surrogate; only these can decode to a lone surrogate.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_line(line: bytes) -> Any:
    """The value of one JSONL line, or a BadLine saying what is wrong with it."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return BadLine(line, "not_utf8")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except _NonFinite:
        return BadLine(line, "non_finite_number")
    except RecursionError:
        return BadLine(line, "too_deeply_nested")
    except ValueError:
        return BadLine(line, "bad_json")
    if _SURROGATE_ESCAPE.search(line) and _holds_surrogate(value):
        return BadLine(line, "invalid_unicode")
    return value


def _holds_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and not is_text(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def iter_jsonl(data: bytes) -> Iterator[tuple[int, Any]]:
    """(line number, value or BadLine) for each non-blank line: the one JSONL reader."""
    for number, line in enumerate(data.splitlines(), 1):
        if line.strip():
            yield number, parse_line(line)


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
            raise UserError(f"{label}:{number}: {row.problem}")
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
