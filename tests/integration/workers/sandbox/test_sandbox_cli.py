"""`codeinstruct sandbox exec` on one program and on a JSONL batch."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers.paths import CLI

pytestmark = pytest.mark.gvisor


def test_exec_one_program_prints_one_json_result(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("for i in range(3):\n    print(f'Test case {i}: {i != 1}')\nassert 0\n")
    done = subprocess.run(
        [*CLI, "sandbox", "exec", str(program), "--timeout", "5"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["verdict"], result["tests_passed"], result["tests_failed"]) == ("fail", 2, 1)
    assert result["exit_code"] == 1 and "AssertionError" in result["stderr"]


def test_exec_jsonl_batch_in_input_order(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    lines = [
        {"id": "spin", "program": "while True: pass", "timeout": 1},
        {"id": "ok", "program": "print('hi')"},
        {"id": "boom", "program": "1/0"},
        *({"id": f"n{i}", "program": f"assert {i} >= 0"} for i in range(10)),
    ]
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    done = subprocess.run(
        [*CLI, "sandbox", "exec", "--jsonl", str(jobs), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in results] == [line["id"] for line in lines]
    assert [r["verdict"] for r in results[:3]] == ["timeout", "pass", "error"]
    assert all(r["verdict"] == "pass" for r in results[3:])


def test_exec_without_runsc_says_how_to_fix_it(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text("print(1)\n")
    env = {**os.environ, "PATH": str(tmp_path)}
    done = subprocess.run(
        [*CLI, "sandbox", "exec", str(program)], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 2 and done.stdout == ""
    assert "apt-get install runsc" in done.stderr and "Traceback" not in done.stderr


def test_malformed_jsonl_names_the_line(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"id": "a", "program": "1"}\n{"id": "b"}\n')
    done = subprocess.run(
        [*CLI, "sandbox", "exec", "--jsonl", str(jobs)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "jobs.jsonl:2" in done.stderr.replace("\n", "")


def test_exec_mixed_language_jsonl_batch_in_input_order(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    lines = [
        {"id": "c", "language": "c", "program": "int main(void) { return 1; }"},
        {"id": "py", "program": "print('py')"},
        {"id": "sh", "language": "bash", "program": "echo sh"},
        {"id": "js", "language": "javascript", "program": "console.log('js')"},
        {"id": "rs", "language": "rust", "program": 'fn main() { println!("rs"); }'},
        {"id": "bad", "language": "go", "program": "package main\nfunc main() { y }"},
        {"id": "py2", "language": "python", "program": "print('py2')"},
    ]
    jobs.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    done = subprocess.run(
        [*CLI, "sandbox", "exec", "--jsonl", str(jobs), "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(r["id"], r["language"]) for r in results] == [
        (line["id"], line.get("language", "python")) for line in lines
    ]
    assert [(r["verdict"], r["stdout"].strip()) for r in results] == [
        ("fail", ""),
        ("pass", "py"),
        ("pass", "sh"),
        ("pass", "js"),
        ("pass", "rs"),
        ("error", ""),
        ("pass", "py2"),
    ]
    assert results[5]["reason"] == "compile_error"


def test_exec_file_takes_its_language_from_the_extension(tmp_path: Path) -> None:
    program = tmp_path / "hello.cc"
    program.write_text('#include <cstdio>\nint main() { std::puts("from c++"); }\n')
    done = subprocess.run(
        [*CLI, "sandbox", "exec", str(program)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["verdict"], result["language"], result["stdout"]) == (
        "pass",
        "cpp",
        "from c++\n",
    )
