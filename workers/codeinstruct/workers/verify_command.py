"""`codeinstruct verify`: check an existing dataset's samples the way the pipeline checks its own.

codeinstruct verify samples.jsonl --output checked/
codeinstruct verify data.jsonl --output checked/ --response-field output --tests-field test
codeinstruct verify programs.jsonl --output checked/ --program-field code

codeinstruct verify mixed.jsonl --output checked/ --language-field lang

Each record holds a `response` (markdown with fenced code) and its `tests`, or a whole
`program`. The tests must run, pass, and fail against the null variant (see
`codeinstruct.workers.verification`). A record's `language` (default python) says which checks
apply: Python's, or for another language those of SelfCodeAlign's execute stage for it
(`verification.language_samples`, response and tests only); a language without them is
rejected as `unsupported_language`. Writes DIR/verified.jsonl (each record with its
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

from codeinstruct.workers import code_languages, sanitize
from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import content_id
from codeinstruct.workers.sandbox import Executor
from codeinstruct.workers.spec import Isolation, Sandbox
from codeinstruct.workers.spec.models import SelfCodeAlign
from codeinstruct.workers.stages.sanitize import IncompleteResponse, InstructionLength
from codeinstruct.workers.verification.language_samples import (
    LanguageSample,
    language_sample_of,
    verify_languages,
)
from codeinstruct.workers.verification.samples import Fields, Sample, sample_of
from codeinstruct.workers.verification.verify import Outcome, Settings, verify

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


def sample_in_language(
    row: dict[str, Any], fields: Fields, language_field: str
) -> Sample | LanguageSample | tuple[str, str]:
    """The record's sample in its language, or (drop reason, detail)."""
    given = row.get(language_field)
    # Its name or a fence tag of it, any case ("JavaScript", "js", "py").
    language = "python" if given is None else code_languages.fence_language(str(given))
    if language is None:
        supported = ", ".join(code_languages.LANGUAGES)
        return "unsupported_language", (
            f"{language_field}: {given!r} is unknown to verify; supported: {supported}"
        )
    if language == "python":
        found = sample_of(row, fields)
        if isinstance(found, Sample):
            problem = single_sample_problem(row, fields)
            return (problem, "") if problem else found
        return found, ""
    record = {
        "language": language,
        "response": row.get(fields.response),
        "tests": row.get(fields.tests),
    }
    other = language_sample_of(record)
    if isinstance(other, str):
        return other, ""
    problem = unfinished_or_long(row, fields)
    return (problem, "") if problem else other


def unfinished_or_long(row: dict[str, Any], fields: Fields) -> str | None:
    """SelfCodeAlign's single-sample sanitize checks that hold in every language."""
    record = {
        "response": str(row.get(fields.response) or ""),
        "instruction": str(row.get("instruction") or ""),
    }
    checks = (IncompleteResponse(), InstructionLength(MAX_INSTRUCTION_WORDS))
    return next((r for r in (c.check(record) for c in checks) if r is not None), None)


def single_sample_problem(row: dict[str, Any], fields: Fields) -> str | None:
    """SelfCodeAlign's single-sample sanitize checks, by the pipeline's own rules: a fenced
    Python block (`no_python_block`), no unfinished-code marker (`incomplete_marker`), an
    instruction of at most 200 words (`instruction_too_long`). Not the reference's "a top-level
    test statement" rule: here tests that are defined but not called are collected and run, as
    pytest would. A whole `program` has none of these checks."""
    if fields.response not in row:
        return None
    if not sanitize.python_blocks(str(row.get(fields.response) or "")):
        return "no_python_block"
    return unfinished_or_long(row, fields)


def verify_file(
    path: str,
    output: Path,
    executor: Executor,
    settings: Settings,
    fields: Fields,
    progress: bool = False,
    language_field: str = "language",
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
            others: dict[str, LanguageSample] = {}
            # Per row: the sample's key (its content id) or the reason it has no sample.
            keys: list[tuple[str | None, str, str]] = []
            for row, reason in chunk:
                if row is None or reason:
                    keys.append((None, reason, ""))
                    continue
                found = sample_in_language(row, fields, language_field)
                if isinstance(found, Sample):
                    sid = content_id(found.solution, found.tests)
                    samples[sid] = found
                elif isinstance(found, LanguageSample):
                    sid = content_id(found.language, found.solution, found.tests)
                    others[sid] = found
                else:
                    keys.append((None, *found))
                    continue
                keys.append((sid, "", ""))
            outcomes: dict[str, Outcome] = {}
            if samples:
                outcomes |= verify(samples, executor, settings, seed="verify")
            if others:
                outcomes |= verify_languages(others, executor, settings)
            for (row, _), (key, reason, detail) in zip(chunk, keys, strict=True):
                record = dict(row or {})
                drop: str | None = reason
                if key is not None:
                    outcome = outcomes[key]
                    record["execution"] = outcome.execution
                    drop = outcome.reason
                target = rejected if drop else verified
                if drop:
                    record["drop_reason"] = drop
                    if detail:
                        record["drop_detail"] = detail
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
            language_field=args.language_field,
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
        "tests, or a whole program (Python only), and optionally its language. Writes DIR/verified.jsonl and DIR/rejected.jsonl (with "
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
    parser.add_argument(
        "--language-field",
        default="language",
        metavar="F",
        help=f"the record's language (default python when absent): "
        f"{', '.join(code_languages.LANGUAGES)}",
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
