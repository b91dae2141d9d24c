"""`sandbox exec`'s user errors for languages: one sentence naming the field and the fix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.sandbox.command import cmd_exec, job_of


def exec_args(**values: object) -> argparse.Namespace:
    defaults = {"program": None, "jsonl": None, "language": None, "timeout": 1.0}
    return argparse.Namespace(
        **{**defaults, "memory": 256, "isolation": "none", "workers": 1, **values}
    )


def test_unknown_language_in_a_batch_names_the_line_and_the_supported_list(
    tmp_path: Path,
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    lines = [{"program": "print(1)"}, {"id": "k", "language": "kotlin", "program": "x"}]
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(UserError) as raised:
        cmd_exec(exec_args(jsonl=str(jobs)))
    message = str(raised.value)
    assert message.startswith(f"{jobs}: line 2: `language`: unknown language 'kotlin'")
    assert "supported: python, javascript, typescript, c, cpp, go, rust, java, bash" in message


def test_a_file_of_unknown_extension_asks_for_language(tmp_path: Path) -> None:
    program = tmp_path / "main.kt"
    program.write_text("fun main() {}\n")
    with pytest.raises(UserError, match=r"main\.kt: cannot tell the language .* pass --language"):
        cmd_exec(exec_args(program=str(program)))


def test_job_of_keeps_the_one_job_format() -> None:
    job = job_of({"id": 7, "language": "go", "program": "package main", "timeout": 2}, 0, "x")
    assert (job.id, job.language, job.program, job.timeout) == ("7", "go", "package main", 2)
    assert job_of({"program": "print(1)"}, 3, "x").language == "python"
    with pytest.raises(UserError, match="`language` must be a string"):
        job_of({"program": "", "language": 3}, 0, "jobs.jsonl: line 1")
