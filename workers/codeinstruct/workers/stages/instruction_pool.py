"""XCoder's source: an existing instruction pool (JSONL or Parquet, local or S3).

A row has `instruction` and `response` fields (names in `source`), or a chat `messages` list:
the user turns, joined, are the instruction (what complexity and leakage measure, as XCoder
does) and the last assistant turn is the response; the conversation itself is kept as
`messages` ({role, content} turns), so a selected row is exported as the conversation it was. Rows
that are not JSON, lack both, or hold non-text are counted drops, each reason saying what was
wrong (NaN or Infinity anywhere, a lone surrogate escape, nesting too deep, a truncated gzip
file, a file name that is not UTF-8). Numeric `complexity` and `quality` fields already in the
pool are kept; one of another type is a `score_not_a_number` drop. A row repeated exactly in a
file is a `duplicate_row` drop of `pool`; a row repeated in a later file (files in sorted order)
is a `duplicate_row` drop of `pool_dedup`, the whole stage after it (each file is read on its own,
so that a resumed run reads only the files not yet committed). Record ids are unique in the run.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import Record, content_id, is_text, printable
from codeinstruct.workers.sources import BadRow, iter_rows, list_files, read_source_file
from codeinstruct.workers.spec import Source, SourceFormat
from codeinstruct.workers.stages.base import (
    Drop,
    SourceStage,
    Stage,
    StageContext,
    StageKind,
    StageOutput,
)

SUFFIXES = {
    SourceFormat.JSONL: (".jsonl", ".json", ".jsonl.gz"),
    SourceFormat.PARQUET: (".parquet",),
}
KEPT_SCORES = ("complexity", "quality")


def pool_files(source: Source) -> list[str]:
    """The pool's files (local paths, or S3 keys), sorted."""
    suffixes = SUFFIXES.get(source.format)
    if suffixes is None:
        raise UserError(
            f"source.format: XCoder reads `jsonl` or `parquet` pools, got {source.format.value!r}"
        )
    files = list_files(source.uri, suffixes, source.max_files)
    if not files:
        raise UserError(f"source.uri: no {'/'.join(suffixes)} files under {source.uri!r}")
    return files


def pool_record(row: Any, source: Source) -> tuple[Record | None, str | None]:
    """(record, None) or (None, drop reason) for one pool row."""
    if not isinstance(row, dict):
        return None, "not_an_object"
    instruction = row.get(source.instruction_field)
    response = row.get(source.response_field)
    messages = row.get(source.messages_field)
    turns: list[dict[str, str]] | None = None
    if instruction is None and messages is not None:
        if not isinstance(messages, list) or not all(
            isinstance(m, dict) and isinstance(m.get("content"), str) for m in messages
        ):
            return None, "bad_messages"
        roles = [str(m.get("role", "")).lower() for m in messages]
        user = [m["content"] for m, r in zip(messages, roles, strict=True) if r == "user"]
        assistant = [m["content"] for m, r in zip(messages, roles, strict=True) if r == "assistant"]
        instruction = "\n\n".join(user) if user else None
        response = assistant[-1] if assistant else response
        turns = [{"role": r, "content": m["content"]} for m, r in zip(messages, roles, strict=True)]
    if not isinstance(instruction, str) or not instruction.strip():
        return None, "missing_instruction"
    if not isinstance(response, str) or not response.strip():
        return None, "missing_response"
    record: Record = {
        "id": content_id(instruction, response)
        if turns is None
        else content_id("messages", *(f"{t['role']}:{t['content']}" for t in turns)),
        "instruction": instruction,
        "response": response,
    }
    if turns is not None:
        record["messages"] = turns
    for name in KEPT_SCORES:
        value = row.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None, "score_not_a_number"
        if not math.isfinite(value):
            return None, "non_finite_number"  # a Parquet NaN (JSONL rows are caught when read)
        record[name] = float(value)
    return record, None


class ReadInstructionPool(SourceStage):
    """Reads the pool's rows as (instruction, response) records.

    Input fields: (the source)
    Output fields: instruction, response (and `messages` for chat rows, `complexity`, `quality`
    when the pool has them)
    Drop reasons: bad_json, not_utf8, too_deeply_nested, non_finite_number, invalid_unicode,
    bad_gzip, bad_parquet, non_utf8_name, not_an_object, bad_messages, missing_instruction,
    missing_response, score_not_a_number, duplicate_row
    """

    kind = StageKind.PREPARE
    name = "pool"
    outputs = ("instruction", "response")

    def __init__(self, source: Source) -> None:
        self.source = source

    def partitions(self, ctx: StageContext) -> list[Any]:
        return [{"file": f} for f in pool_files(self.source)]

    def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
        source = self.source
        path = partition["file"]
        ctx.count("files")
        if not is_text(path):
            ctx.stats.records_in += 1
            meta = {"source": printable(path), "row": 0}
            yield Drop({"id": content_id("row", path, "0"), "meta": meta}, "non_utf8_name")
            return
        data = read_source_file(source.uri, path)
        rows = iter_rows(path, data, parquet=source.format is SourceFormat.PARQUET)
        seen: set[str] = set()
        for number, row in rows:
            ctx.stats.records_in += 1
            where = {"source": path, "row": number}
            bad = {"id": content_id("row", path, str(number)), "meta": where}
            if isinstance(row, BadRow):
                yield Drop(bad, row.reason)
                continue
            record, reason = pool_record(row, source)
            if record is None:
                yield Drop(bad, str(reason))
            elif record["id"] in seen:
                yield Drop({**bad, "duplicate_of": record["id"]}, "duplicate_row")
            else:
                seen.add(record["id"])
                yield {**record, "meta": where}


class PoolDuplicates(Stage):
    """Drops a pool row that an earlier file of the pool already holds (the same id: the same
    instruction and response, or the same conversation); the first, in sorted file order, is
    kept. A whole stage: it waits for every file.

    Input fields: instruction, response
    Output fields: (none)
    Drop reasons: duplicate_row
    """

    kind = StageKind.PREPARE
    name = "pool_dedup"
    whole = True
    inputs = ("instruction", "response")

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        seen: set[str] = set()
        for record in records:
            if record["id"] in seen:
                yield Drop({**record, "duplicate_of": record["id"]}, "duplicate_row")
            else:
                seen.add(record["id"])
                yield record
