"""Seeds beyond Python: the documented functions tree-sitter finds in seed files of each
language (`seed_files/`), and the drop reason each filter gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codeinstruct.workers.documented_functions import extract_documented
from codeinstruct.workers.spec import Mining, Source
from codeinstruct.workers.stages.base import Drop
from codeinstruct.workers.stages.seeds import MineSeeds
from tests.helpers.stages import stage_context, stage_services

FILES = Path(__file__).parent / "seed_files"

# Per language: its seed file and {function: drop reason (None: kept)} of every documented
# candidate. Undocumented functions, line comments that are not doc comments, comments
# separated by a blank line, methods (Go, Java instance methods) are not candidates at all.
EXPECTED = {
    "javascript": (
        "seeds.js",
        {
            "add": None,
            "clampAll": None,
            "logValue": "no_return",
            "nestedOnly": "no_return",
            "answer": "no_arguments",
            "readText": "banned_api",
            "run": "banned_api",
            "home": "banned_api",
            "tiny": "short_docstring",
            "double": "todo_marker",
        },
    ),
    "typescript": (
        "seeds.ts",
        {"distance": None, "sum": None, "show": "no_return", "load": "banned_api"},
    ),
    "java": (
        "Seeds.java",
        {
            "sum": None,
            "print": "no_return",
            "constant": "no_arguments",
            "lines": "banned_api",
            "stop": "banned_api",
        },
    ),
    "go": (
        "seeds.go",
        {"Reverse": None, "Show": "no_return", "Answer": "no_arguments", "Home": "banned_api"},
    ),
    "rust": (
        "seeds.rs",
        {
            "word_counts": None,
            "show": "no_return",
            "answer": "no_arguments",
            "read": "banned_api",
        },
    ),
    "cpp": (
        "seeds.cpp",
        {
            "largest": None,
            "repeat": None,
            "smaller": None,
            "nothing": "no_return",
            "constant": "no_arguments",
            "first_line": "banned_api",
            "run": "banned_api",
        },
    ),
}


@pytest.mark.parametrize("language", list(EXPECTED))
def test_documented_functions_and_their_filters(language: str) -> None:
    name, expected = EXPECTED[language]
    found = extract_documented((FILES / name).read_text(), language, Mining())
    assert {c.name: c.drop_reason for c in found} == expected


def test_a_seed_holds_its_doc_comment_code_and_the_imports_it_uses() -> None:
    text = (FILES / "seeds.js").read_text()
    seeds = {c.name: c for c in extract_documented(text, "javascript", Mining())}
    clamp = seeds["clampAll"]
    assert clamp.code.startswith("/** Clamps every value")
    assert clamp.code.rstrip().endswith("limit(x, lo, hi));")
    assert clamp.imports == "import { clamp as limit } from './numbers.js';"
    assert seeds["add"].imports == ""  # uses neither fs, child_process nor `limit`
    assert seeds["add"].docstring.startswith("Adds two numbers and returns their sum.\n@param")
    assert seeds["add"].line == 10  # the `export function` line


def test_go_doc_lines_join_and_rust_attributes_sit_between_doc_and_fn() -> None:
    go = extract_documented((FILES / "seeds.go").read_text(), "go", Mining())
    reverse = next(c for c in go if c.name == "Reverse")
    assert reverse.docstring == (
        "Reverse returns the words of s in reverse order,\njoined by single spaces."
    )
    assert reverse.imports == 'import "strings"'
    rust = extract_documented((FILES / "seeds.rs").read_text(), "rust", Mining())
    counts = next(c for c in rust if c.name == "word_counts")
    assert counts.code.splitlines()[:3] == [
        "/// Counts how often each word occurs in `text`.",
        "/// Words are separated by whitespace.",
        "#[must_use]",
    ]
    assert counts.imports == "use std::collections::HashMap;"


def test_java_methods_are_dedented_and_cpp_seeds_leave_out_system_headers() -> None:
    java = extract_documented((FILES / "Seeds.java").read_text(), "java", Mining())
    total = next(c for c in java if c.name == "sum")
    assert total.code.startswith("/**\n * Returns the sum")
    assert "\n    public static int sum" not in total.code
    assert total.imports == "import java.util.List;"
    cpp = extract_documented((FILES / "seeds.cpp").read_text(), "cpp", Mining())
    assert {c.imports for c in cpp} == {"#include <string>\n#include <vector>"}


def test_size_limit_and_a_function_that_does_not_parse() -> None:
    text = (FILES / "seeds.rs").read_text()
    short = Mining(max_lines=3)
    assert {c.name: c.drop_reason for c in extract_documented(text, "rust", short)}[
        "word_counts"
    ] == "too_long"
    broken = (
        "/** Adds two numbers, but its body is broken. */\nfunction add(a, b) { return a +; }\n"
    )
    assert [c.drop_reason for c in extract_documented(broken, "javascript", Mining())] == [
        "syntax_error"
    ]


def test_the_seed_stage_reads_the_language_files_of_a_folder(tmp_path: Path) -> None:
    folder = tmp_path / "src"
    folder.mkdir()
    for name in ("seeds.js", "seeds.rs", "seeds.go"):
        shutil.copy(FILES / name, folder / name)
    services = stage_services(tmp_path)
    source = Source(uri=str(folder), language="rust")
    stage = MineSeeds(source, services.spec.mining)
    ctx = stage_context(services)
    outputs = [o for p in stage.partitions(ctx) for o in stage.read(p, ctx)]
    kept = [o for o in outputs if not isinstance(o, Drop)]
    assert [r["entry_point"] for r in kept] == ["word_counts"]
    assert kept[0]["language"] == "rust"
    assert kept[0]["seed"].startswith("use std::collections::HashMap;\n\n\n/// Counts")
    reasons = {o.reason for o in outputs if isinstance(o, Drop)}
    assert reasons == {"no_return", "no_arguments", "banned_api"}
