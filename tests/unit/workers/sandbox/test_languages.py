"""The language table: inference from file names, Java's class, the commands, clear errors."""

from __future__ import annotations

import pytest

from codeinstruct.workers.sandbox.languages import (
    LANGUAGES,
    SUPPORTED,
    UnknownLanguage,
    java_main_class,
    language,
    language_of_path,
    plan,
)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.py", "python"),
        ("dir/x.js", "javascript"),
        ("x.ts", "typescript"),
        ("x.c", "c"),
        ("x.cc", "cpp"),
        ("X.CPP", "cpp"),
        ("x.go", "go"),
        ("x.rs", "rust"),
        ("Main.java", "java"),
        ("run.sh", "bash"),
    ],
)
def test_language_of_path(path: str, expected: str) -> None:
    assert language_of_path(path) == expected


def test_unknown_extension_and_language_name_the_field_and_the_supported_list() -> None:
    with pytest.raises(UnknownLanguage, match=r"prog\.kt: .*\.rs \(rust\)"):
        language_of_path("prog.kt")
    with pytest.raises(UnknownLanguage) as raised:
        language("cobol", "jobs[3].language")
    message = str(raised.value)
    assert message.startswith("jobs[3].language: unknown language 'cobol'")
    assert all(name in message for name in SUPPORTED)


def test_nine_languages() -> None:
    assert set(SUPPORTED) == {
        "python",
        "javascript",
        "typescript",
        "c",
        "cpp",
        "go",
        "rust",
        "java",
        "bash",
    }
    compiled = {name for name, entry in LANGUAGES.items() if entry.compile}
    assert compiled == {"typescript", "c", "cpp", "go", "rust", "java"}


@pytest.mark.parametrize(
    ("program", "expected"),
    [
        (
            "public class Solution { public static void main(String[] a) {} }",
            ("Solution", "Solution"),
        ),
        (
            "import java.util.*;\n\nfinal public class Answer {\n  public static void main(String[] a) {}\n}",
            ("Answer", "Answer"),
        ),
        # A helper first, then the class with main (neither public: the file is Main.java).
        (
            "class Helper {}\nclass Runner {\n  public static void main(String[] a) {}\n}",
            ("Main", "Runner"),
        ),
        # The public class holds no main: the class before main runs, the file is the public one.
        (
            "public class Api { }\nclass Demo {\n  public static void main(String[] args) {}\n}",
            ("Api", "Demo"),
        ),
        # Comments mentioning a class do not count.
        (
            "// public class Fake {}\n/* public class Other */\npublic class Real {\n"
            "  static public void main(String[] a) {}\n}",
            ("Real", "Real"),
        ),
    ],
)
def test_java_class_is_found_whatever_its_name(program: str, expected: tuple[str, str]) -> None:
    file_class, run_class = expected
    assert java_main_class(program) == (f"{file_class}.java", run_class)


def test_java_plan_compiles_the_named_file_and_runs_its_class() -> None:
    steps = plan("java", "public class Calc { public static void main(String[] a) {} }", 512)
    assert steps["source"] == "Calc.java"
    (javac,) = steps["compile"]
    assert javac[0] == "javac" and javac[-1] == "Calc.java"
    run = steps["run"]
    assert run[0] == "java" and run[-1] == "Calc" and "-ea" in run
    # The heap is half the job's memory, in the compiler and the program alike.
    assert "-Xmx256m" in run and "-J-Xmx256m" in javac


def test_a_program_may_reserve_address_space_beyond_its_memory() -> None:
    assert plan("go", "package main\nfunc main() {}\n", 512)["address_space_mib"] > 512 + 700


def test_go_compiles_in_two_steps_and_typescript_brings_node_globals() -> None:
    go = plan("go", "package main\nfunc main() {}\n", 1024)
    assert [step[:3] for step in go["compile"]] == [
        ["go", "tool", "compile"],
        ["go", "tool", "link"],
    ]
    ts = plan("typescript", "console.log(1)", 1024)
    assert "declare var process" in ts["files"]["globals.d.ts"]
    assert ts["run"] == ["node", "main.js"]
    assert plan("bash", "echo", 1024)["compile"] == []
