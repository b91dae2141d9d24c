"""Seeds must be self-contained: a seed whose function reads a module-level name that the seed
text neither defines nor imports (a private helper, a module constant) is dropped as
`undefined_name`, since concepts drawn from it would rest on code the model never sees.

Input fields: `seed`. Output: the record unchanged. Drops: `undefined_name` (the names are kept
in the dropped record's `undefined_names`), `syntax_error`.
"""

from __future__ import annotations

from collections.abc import Iterator

from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput
from codeinstruct.workers.undefined_names import undefined_names


class UndefinedNames(Stage):
    """Drops a seed whose function reads a module-level name the seed neither defines nor
    imports.

    Input fields: seed
    Output fields: (none)
    Drop reasons: undefined_name (with `undefined_names`), syntax_error
    """

    kind = StageKind.PREPARE
    name = "seed_names"
    inputs = ("seed",)

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        for record in records:
            ctx.advance(1)
            try:
                names = undefined_names(str(record.get("seed", "")))
            except (SyntaxError, ValueError, RecursionError):
                yield Drop(record, "syntax_error")
                continue
            if names:
                yield Drop({**record, "undefined_names": names}, "undefined_name")
            else:
                yield record
