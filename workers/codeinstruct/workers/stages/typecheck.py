"""Optional seed filter: drop seeds a real type checker (mypy) reports errors in.

Seeds are checked in batches, each seed as its own module. A batch that times out is split in
halves and retried, down to single files; only a single file that still times out is dropped
(reason `type_check_timeout`), so one pathological file never costs the whole batch.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from importlib.util import find_spec
from pathlib import Path

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput

MYPY = [
    sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports=silent",
    "--check-untyped-defs", "--no-incremental", "--no-error-summary", "--show-error-codes",
    "--python-version", "3.11",
]  # fmt: skip
_ERROR = re.compile(r"^seed_(\d+)\.py:\d+(?::\d+)?: error: (.*)$", re.MULTILINE)


def check_batch(
    sources: Sequence[str], timeout: float, command: Sequence[str] = MYPY
) -> list[str | None]:
    """For each source, the first error the checker reports, `timeout`, or None when clean."""
    if not sources:
        return []
    with tempfile.TemporaryDirectory(prefix="codeinstruct-typecheck-") as folder:
        files = []
        for index, source in enumerate(sources):
            path = Path(folder, f"seed_{index}.py")
            path.write_text(source, encoding="utf-8")
            files.append(path.name)
        try:
            result = subprocess.run(
                [*command, *files], cwd=folder, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            result = None
    if result is None or result.returncode not in (0, 1):
        if len(sources) == 1:
            return ["timeout" if result is None else "checker_failed"]
        middle = len(sources) // 2
        return [
            *check_batch(sources[:middle], timeout, command),
            *check_batch(sources[middle:], timeout, command),
        ]
    errors: list[str | None] = [None] * len(sources)
    for match in _ERROR.finditer(result.stdout):
        index = int(match.group(1))
        errors[index] = errors[index] or match.group(2)
    return errors


class TypeCheck(Stage):
    """Drops seeds mypy reports an error in (`mining.typeCheck: true`).

    Input fields: seed
    Output fields: (none; `type_error` on drops)
    Drop reasons: type_error, type_check_timeout, type_check_checker_failed
    """

    kind = StageKind.PREPARE
    name = "seed_typecheck"
    inputs = ("seed",)
    batch_size = 250
    timeout = 120.0

    def run(self, records: list[Record], ctx: StageContext) -> Iterator[StageOutput]:
        if find_spec("mypy") is None:
            raise UserError(
                "mining.typeCheck: true needs mypy: pip install 'codeinstruct[typecheck]' "
                "(or set mining.typeCheck: false)"
            )
        for start in range(0, len(records), self.batch_size):
            batch = records[start : start + self.batch_size]
            errors = check_batch([r["seed"] for r in batch], self.timeout)
            for record, error in zip(batch, errors, strict=True):
                ctx.advance(1)
                if error is None:
                    yield record
                elif error in ("timeout", "checker_failed"):
                    yield Drop(record, f"type_check_{error}")
                else:
                    yield Drop({**record, "type_error": error}, "type_error")
