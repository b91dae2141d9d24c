"""SelfCodeAlign's sanitize chain, one stage per rule (the rules are in `sanitize.py`).

Before the execution: `wrong_format` (drops `no_python_block`, `no_top_level_test`) and
`incomplete` (drops `incomplete_marker`), so that the pick chooses among well-formed responses,
as the reference filters before it picks. After the pick: `instruction_length`
(`instruction_too_long`), `exact_dedup` (`duplicate_instruction`, `duplicate_response`),
`name_diversity` (`repeated_function_names`), `code_representation` (adds the field; drops
`code_syntax_error`), then MinHash near-dedup on the instruction, the response and the code
representation (`NearDedup` stages, see `methods/selfcodealign.py`).

Input fields: `instruction`, `response` (markdown with fenced code), `tests` (test code),
`code` (the solution's code, when present). Whole-data stages walk the records in id order
(ids are content hashes: a fixed pseudo-random order, whatever order the records came in) and
keep the first of each group.

A record of another `language` than Python gets the analogues: `wrong_format` wants a block
fenced in that language (`no_code_block`; its tests' idiom was checked when they were parsed),
names and the code representation come from a lexical scan (`code_languages`).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from codeinstruct.workers import code_languages, sanitize
from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.base import (
    Drop,
    FilterStage,
    Stage,
    StageContext,
    StageKind,
    StageOutput,
)


def _language(record: Record) -> str:
    return str(record.get("language", "python"))


def _blocks(record: Record) -> list[str]:
    response = str(record.get("response", ""))
    language = _language(record)
    if language == "python":
        return sanitize.python_blocks(response)
    return code_languages.tagged_blocks(response, language)


def _code(record: Record) -> str:
    code = record.get("code")
    if isinstance(code, str) and code.strip():
        return code
    return "\n\n".join(_blocks(record))


def _in_id_order(records: list[Record]) -> list[int]:
    return sorted(range(len(records)), key=lambda i: str(records[i]["id"]))


class WrongFormat(FilterStage):
    """Drops a response without a fenced Python block, or whose tests have no top-level test.

    Input fields: response, tests
    Output fields: (none)
    Drop reasons: no_python_block, no_top_level_test (other languages: no_code_block)
    """

    kind = StageKind.PREPARE
    name = "wrong_format"
    inputs = ("response", "tests")

    def check(self, record: Record) -> str | None:
        if _language(record) != "python":
            return None if _blocks(record) else "no_code_block"
        return sanitize.format_problem(
            str(record.get("response", "")), str(record.get("tests", ""))
        )


class IncompleteResponse(FilterStage):
    """Drops a response that marks itself unfinished (a placeholder, an ellipsis body, ...).

    Input fields: response
    Output fields: (none)
    Drop reasons: incomplete_marker
    """

    kind = StageKind.PREPARE
    name = "incomplete"
    inputs = ("response",)

    def check(self, record: Record) -> str | None:
        marker = sanitize.incomplete_marker(str(record.get("response", "")))
        return None if marker is None else "incomplete_marker"


class InstructionLength(FilterStage):
    """Drops an instruction of more than `selfcodealign.maxInstructionWords` words.

    Input fields: instruction
    Output fields: (none)
    Drop reasons: instruction_too_long
    """

    kind = StageKind.PREPARE
    name = "instruction_length"
    inputs = ("instruction",)

    def __init__(self, max_words: int) -> None:
        self.max_words = max_words

    def check(self, record: Record) -> str | None:
        long = sanitize.too_many_words(str(record.get("instruction", "")), self.max_words)
        return "instruction_too_long" if long else None


class ExactDedup(Stage):
    """One pair per instruction text, and no response text twice.

    Input fields: instruction, response
    Output fields: (none)
    Drop reasons: duplicate_instruction, duplicate_response
    """

    kind = StageKind.PREPARE
    name = "exact_dedup"
    inputs = ("instruction", "response")
    whole = True

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        order = _in_id_order(records)
        reasons = sanitize.exact_duplicates(
            [str(records[i].get("instruction", "")) for i in order],
            [str(records[i].get("response", "")) for i in order],
        )
        by_index = dict(zip(order, reasons, strict=True))
        for index, record in enumerate(records):
            ctx.advance(1)
            reason = by_index[index]
            yield record if reason is None else Drop(record, reason)


class NameDiversity(Stage):
    """The set of function/class names of a response's first code block occurs once.

    Input fields: response
    Output fields: (none)
    Drop reasons: repeated_function_names (with `duplicate_of`)
    """

    kind = StageKind.PREPARE
    name = "name_diversity"
    inputs = ("response",)
    whole = True

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        order = _in_id_order(records)
        keys: list[Hashable] = []
        for i in order:
            blocks = _blocks(records[i])
            if _language(records[i]) == "python":
                keys.append(sanitize.function_names(blocks[0]) if blocks else frozenset())
            else:
                names = code_languages.defined_names(blocks[0]) if blocks else frozenset()
                keys.append((_language(records[i]), names))
        repeats = sanitize.repeated_keys(keys)
        first_of = {
            order[position]: None if earlier is None else order[earlier]
            for position, earlier in enumerate(repeats)
        }
        for index, record in enumerate(records):
            ctx.advance(1)
            earlier = first_of[index]
            if earlier is None:
                yield record
            else:
                kept = {**record, "duplicate_of": records[earlier]["id"]}
                yield Drop(kept, "repeated_function_names")


class CodeRepresentation(Stage):
    """Adds `code_representation`: the solution's defs and classes without docstrings (from
    `code`, or the response's Python blocks when it has none).

    Input fields: response
    Output fields: code_representation
    Drop reasons: code_syntax_error
    """

    kind = StageKind.PREPARE
    name = "code_representation"
    inputs = ("response",)
    outputs = ("code_representation",)

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        for record in records:
            if _language(record) != "python":
                representation = code_languages.code_representation(_code(record))
                yield {**record, "code_representation": representation}
                continue
            try:
                representation = sanitize.code_representation(_code(record))
            except (SyntaxError, ValueError, RecursionError):
                yield Drop(record, "code_syntax_error")
                continue
            yield {**record, "code_representation": representation}
