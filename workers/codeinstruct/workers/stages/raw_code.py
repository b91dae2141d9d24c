"""WaveCoder's raw code: JSONL rows of code in any language (CodeSearchNet style: the code in
`source.contentField`, its language in `source.languageField`), each row one seed as it is.
The paper's corpus was multi-language; embedding and the coreset read any text, and the task
prompts name each seed's language. Rows that name no language are `source.language`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.sources import BadRow, iter_rows, list_files, read_source_file
from codeinstruct.workers.spec import Mining, Source
from codeinstruct.workers.stages.base import Drop, SourceStage, StageContext, StageKind, StageOutput

SUFFIXES = (".jsonl", ".json", ".jsonl.gz")
# How languages are written in prompts (CodeSearchNet writes them in lower case).
DISPLAY = {
    "c": "C", "c#": "C#", "c++": "C++", "cpp": "C++", "csharp": "C#", "go": "Go",
    "java": "Java", "javascript": "JavaScript", "js": "JavaScript", "kotlin": "Kotlin",
    "php": "PHP", "python": "Python", "ruby": "Ruby", "rust": "Rust", "scala": "Scala",
    "swift": "Swift", "typescript": "TypeScript",
}  # fmt: skip


def language_name(value: str) -> str:
    """A language as prompts write it: `go` -> `Go`, `javascript` -> `JavaScript`."""
    text = value.strip()
    return DISPLAY.get(text.lower(), text[:1].upper() + text[1:])


def raw_record(row: Any, source: Source, mining: Mining) -> tuple[Record | None, str | None]:
    """(record, None) or (None, drop reason) for one row."""
    if not isinstance(row, dict):
        return None, "not_an_object"
    code = row.get(source.content_field)
    if not isinstance(code, str):
        return None, "missing_code"
    if not code.strip():
        return None, "empty_code"
    if code.count("\n") + 1 > mining.max_lines:
        return None, "too_long"
    named = row.get(source.language_field)
    language = language_name(named if isinstance(named, str) and named.strip() else source.language)
    return {"id": content_id("raw", language, code), "seed": code, "language": language}, None


class ReadRawCode(SourceStage):
    """Reads JSONL rows of code in any language as seeds (no Python-only mining filters).

    Input fields: (the source)
    Output fields: seed, language
    Drop reasons: bad_json, not_an_object, missing_code, empty_code, too_long
    """

    kind = StageKind.PREPARE
    name = "seeds"
    outputs = ("seed", "language")

    def __init__(self, source: Source, mining: Mining) -> None:
        self.source = source
        self.mining = mining

    def partitions(self, ctx: StageContext) -> list[Any]:
        files = list_files(self.source.uri, SUFFIXES, self.source.max_files)
        if not files:
            raise UserError(f"source.uri: no {'/'.join(SUFFIXES)} files under {self.source.uri!r}")
        return [{"file": f} for f in files]

    def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
        path = partition["file"]
        ctx.count("files")
        data = read_source_file(self.source.uri, path)
        for number, row in iter_rows(path, data, parquet=False):
            ctx.stats.records_in += 1
            where = {"source": path, "row": number}
            if isinstance(row, BadRow):
                yield Drop({"id": content_id("row", path, str(number)), "meta": where}, row.reason)
                continue
            record, reason = raw_record(row, self.source, self.mining)
            if record is None:
                yield Drop({"id": content_id("row", path, str(number)), "meta": where}, str(reason))
            else:
                ctx.count(f"language_{record['language']}")
                yield {**record, "meta": where}
