"""`codeinstruct verify` on records of other languages than Python, under gVisor: they go
through the checks of SelfCodeAlign's execute stage for their language (run, pass, an assertion
executed, the null variant fails), an unsupported language is a rejected record with a reason,
and the language field's name is configurable like the others (its value: a name or fence tag,
any case)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeinstruct.workers.cli import main
from tests.verification_cases import GOOD, fenced

pytestmark = pytest.mark.gvisor

JS_ADD = "```javascript\nfunction add(a, b) { return a + b; }\n```\n"
JS_TESTS = "const assert = require('assert');\n"
RUST_ADD = "```rust\nfn add(a: i32, b: i32) -> i32 { a + b }\n```\n"
RECORDS = [
    {
        "id": "js",
        "lang": "javascript",
        "answer": JS_ADD,
        "test": JS_TESTS + "assert(add(2, 3) === 5);\n",
    },
    {
        "id": "js_never_called",
        "lang": "javascript",
        "answer": JS_ADD,
        "test": JS_TESTS + "function testAdd() { assert.strictEqual(add(2, 3), 5); }\n",
    },
    {
        "id": "js_ignores_the_solution",
        "lang": "javascript",
        "answer": JS_ADD,
        "test": JS_TESTS + "assert.strictEqual(2 + 3, 5);\n",
    },
    {
        "id": "rust",
        "lang": "Rust",
        "answer": RUST_ADD,
        "test": "fn main() { assert_eq!(add(2, 3), 5); }\n",
    },
    {
        "id": "rust_test_attribute_only",
        "lang": "rust",
        "answer": RUST_ADD,
        "test": "#[test]\nfn adds() { assert_eq!(add(2, 3), 5); }\nfn main() {}\n",
    },
    {
        "id": "rust_compile_error",
        "lang": "rust",
        "answer": "```rust\nfn add(a: i32, b: i32) -> i32 { a + }\n```\n",
        "test": "fn main() { assert_eq!(add(2, 3), 5); }\n",
    },
    {"id": "cobol", "lang": "cobol", "answer": "```cobol\nDISPLAY 'HI'.\n```", "test": "x"},
    {"id": "python_default", "answer": fenced(GOOD), "test": "assert add(2, 3) == 5\n"},
]
EXPECTED = {
    "js": None,
    "js_never_called": "tests_not_run",
    "js_ignores_the_solution": "vacuous_tests",
    "rust": None,
    "rust_test_attribute_only": "tests_not_run",
    "rust_compile_error": "compile_error",
    "cobol": "unsupported_language",
    "python_default": None,
}


def test_verify_checks_each_record_in_its_language(tmp_path: Path) -> None:
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    out = tmp_path / "out"
    argv = ["verify", str(samples), "--output", str(out), "--workers", "2", "--timeout", "10"]
    argv += ["--response-field", "answer", "--tests-field", "test", "--language-field", "lang"]
    assert main(argv) == 0
    verified = [json.loads(line) for line in (out / "verified.jsonl").read_text().splitlines()]
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    seen = {r["id"]: None for r in verified} | {r["id"]: r["drop_reason"] for r in rejected}
    assert seen == EXPECTED
    by_id = {r["id"]: r for r in verified}
    assert by_id["js"]["execution"]["null_killed"] is True
    assert by_id["rust"]["execution"]["null_killed"] is True
    assert "unknown" in str(next(r for r in rejected if r["id"] == "cobol").get("drop_detail", ""))
