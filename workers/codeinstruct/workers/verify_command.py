"""`codeinstruct verify`: check an existing dataset's samples the way the pipeline checks its own.

codeinstruct verify samples.jsonl --output checked/
codeinstruct verify data.jsonl --output checked/ --response-field output --tests-field test
codeinstruct verify programs.jsonl --output checked/ --program-field code

Each record holds a `response` (markdown with fenced code) and its `tests`, or a whole
`program`. The tests must run, pass, and fail against the null variant (see
`codeinstruct.workers.verification`). Writes DIR/verified.jsonl (each record with its
`execution`) and DIR/rejected.jsonl (each with `drop_reason`), and prints a summary by reason.
Exits 0 unless it could not run (unreadable input, no sandbox).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codeinstruct.workers import sanitize
from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import content_id
from codeinstruct.workers.sandbox import Executor
from codeinstruct.workers.spec import Isolation, Sandbox
from codeinstruct.workers.spec.models import SelfCodeAlign
from codeinstruct.workers.stages.sanitize import IncompleteResponse, InstructionLength
from codeinstruct.workers.verification.samples import Fields, Sample, sample_of
from codeinstruct.workers.verification.verify import Settings, verify

DEFAULTS = Sandbox()
CHUNK = 64


MAX_INSTRUCTION_WORDS = SelfCodeAlign().max_instruction_words


@dataclass
class Report:
    verified: int = 0
    rejected: Counter[str] = field(default_factory=Counter)


def read_lines(path: str) -> list[tuple[dict[str, Any] | None, str]]:
    """(record or None, drop reason) per non-empty line; bad lines are rejected, not fatal."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise UserError(f"{path}: cannot read the file ({error.strerror})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text; give a JSONL file") from None
    rows: list[tuple[dict[str, Any] | None, str]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            rows.append(({"line": number, "raw": line[:1000]}, "invalid_json"))
            continue
        if not isinstance(row, dict):
            rows.append(({"line": number, "raw": line[:1000]}, "not_an_object"))
            continue
        rows.append((row, ""))
    return rows


def single_sample_problem(row: dict[str, Any], fields: Fields) -> str | None:
    """SelfCodeAlign's single-sample sanitize checks, by the pipeline's own rules: a fenced
    Python block (`no_python_block`), no unfinished-code marker (`incomplete_marker`), an
    instruction of at most 200 words (`instruction_too_long`). Not the reference's "a top-level
    test statement" rule: here tests that are defined but not called are collected and run, as
    pytest would. A whole `program` has none of these checks."""
    if fields.response not in row:
        return None
    record = {
        "response": str(row.get(fields.response) or ""),
        "instruction": str(row.get("instruction") or ""),
    }
    if not sanitize.python_blocks(record["response"]):
        return "no_python_block"
    checks = (IncompleteResponse(), InstructionLength(MAX_INSTRUCTION_WORDS))
    return next((r for r in (c.check(record) for c in checks) if r is not None), None)


def verify_file(
    path: str,
    output: Path,
    executor: Executor,
    settings: Settings,
    fields: Fields,
    progress: bool = False,
) -> Report:
    """Verify every record of `path`, writing `output`/verified.jsonl and rejected.jsonl."""
    rows = read_lines(path)
    output.mkdir(parents=True, exist_ok=True)
    report = Report()
    bar = Progress(
        TextColumn("verify"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not progress,
    )
    with (
        bar,
        (output / "verified.jsonl").open("w", encoding="utf-8") as verified,
        (output / "rejected.jsonl").open("w", encoding="utf-8") as rejected,
    ):
        task = bar.add_task("verify", total=len(rows))
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start : start + CHUNK]
            samples: dict[str, Sample] = {}
            # Per row: the sample's key (its content id) or the reason it has no sample.
            keys: list[tuple[str | None, str]] = []
            for row, reason in chunk:
                found = sample_of(row, fields) if row is not None and not reason else reason
                if row is not None and isinstance(found, Sample):
                    found = single_sample_problem(row, fields) or found
                if isinstance(found, Sample):
                    sid = content_id(found.solution, found.tests)
                    samples[sid] = found
                    keys.append((sid, ""))
                else:
                    keys.append((None, found))
            outcomes = verify(samples, executor, settings, seed="verify") if samples else {}
            for (row, _), (key, reason) in zip(chunk, keys, strict=True):
                record = dict(row or {})
                drop: str | None = reason
                if key is not None:
                    outcome = outcomes[key]
                    record["execution"] = outcome.execution
                    drop = outcome.reason
                target = rejected if drop else verified
                if drop:
                    record["drop_reason"] = drop
                    report.rejected[drop] += 1
                else:
                    report.verified += 1
                target.write(json.dumps(record, ensure_ascii=False) + "\n")
            bar.advance(task, len(chunk))
    return report


def cmd_verify(args: argparse.Namespace) -> int:
    from codeinstruct.workers.sandbox.warm_pool import Pool

    if args.min_mutants_killed > args.mutants:
        raise UserError("--min-mutants-killed cannot exceed --mutants")
    fields = Fields(args.response_field, args.tests_field, args.program_field)
    settings = Settings(args.timeout, args.mutants, args.min_mutants_killed)
    output = Path(args.output)
    console = Console(stderr=True, highlight=False)
    read_lines(args.samples)  # unreadable input fails before a sandbox starts
    with Pool(args.isolation, args.workers, args.timeout, args.memory) as pool:
        report = verify_file(
            args.samples,
            output,
            pool,
            settings,
            fields,
            progress=not args.no_progress and console.is_terminal,
        )
    total = report.verified + sum(report.rejected.values())
    console.print(
        f"[bold]verified[/] {report.verified} of {total} -> {output / 'verified.jsonl'}; "
        f"rejected {total - report.verified} -> {output / 'rejected.jsonl'}"
    )
    for reason, count in report.rejected.most_common():
        console.print(f"  {reason:<22} {count}")
    return 0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "verify",
        help="check samples' tests in the sandbox: they run, pass, and can fail",
        description="Each JSONL record holds a response (markdown with fenced code) and its "
        "tests, or a whole program. Writes DIR/verified.jsonl and DIR/rejected.jsonl (with "
        "drop_reason) and prints a summary by reason; exits 0 unless it could not run.",
    )
    parser.add_argument("samples", metavar="SAMPLES.jsonl")
    parser.add_argument("--output", "-o", required=True, metavar="DIR")
    parser.add_argument("--response-field", default="response", metavar="F")
    parser.add_argument("--tests-field", default="tests", metavar="F")
    parser.add_argument(
        "--program-field",
        default="program",
        metavar="F",
        help="a whole program (solution, then tests); used when there is no response field",
    )
    parser.add_argument("--mutants", type=int, default=DEFAULTS.mutants, metavar="M")
    parser.add_argument("--min-mutants-killed", type=int, default=0, metavar="K")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULTS.timeout_seconds, metavar="S", help="per job"
    )
    parser.add_argument("--memory", type=int, default=DEFAULTS.memory_mib, metavar="MiB")
    parser.add_argument(
        "--isolation",
        choices=[i.value for i in Isolation],
        default=DEFAULTS.isolation.value,
        help="gvisor (default), bubblewrap, none (no isolation)",
    )
    parser.add_argument("--workers", type=int, default=DEFAULTS.workers, help="warm sandboxes")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=cmd_verify)
