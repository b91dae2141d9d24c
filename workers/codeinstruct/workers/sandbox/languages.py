"""The languages the sandbox runs (pure, standard library only: the supervisor loads this file
inside the sandbox as `codeinstruct_sandbox_languages`).

One table: language -> the file the program is written to, the compile command (run inside the
sandbox, under the job's limits, before the program), the run command, and the extensions
`sandbox exec FILE` infers it from. Python is special: the supervisor runs it in its own forked
interpreter (the checks of `checks.py` need that), so its table entry names no command; the
interpreter is the launcher's single Python environment (`python_env.PythonEnv`).

Toolchains are Debian's (scripts/install.sh): everything lives under /usr, which the sandbox
mounts read-only. Compiled programs are written to the job's fresh working directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypedDict

# CPU seconds and wall seconds a compiler may take (larger than a run's: tsc and javac start a
# whole runtime). Compilation has the job's memory, process and file limits.
COMPILE_CPU_SECONDS = 30.0
COMPILE_WALL_SECONDS = 90.0
# A job's time limit is CPU time; the wall clock only caps a job that sleeps or waits, at
# `WALL_FACTOR` times its CPU limit plus a second, so a loaded machine does not flip verdicts.
WALL_FACTOR = 10.0


def wall_cap(timeout: float) -> float:
    """Wall seconds a job of `timeout` CPU seconds may run (after it compiled)."""
    return timeout * WALL_FACTOR + 1.0


# A type declaration that lets TypeScript programs use Node's globals and modules without
# @types/node (Debian has no package of it): `require`, `process`, any `import ... from "x"`.
TS_GLOBALS = (
    "declare var require: any;\ndeclare var process: any;\ndeclare var module: any;\n"
    "declare var __dirname: string;\ndeclare var console: any;\ndeclare module '*';\n"
)


@dataclass(frozen=True)
class Language:
    name: str
    extensions: tuple[str, ...]
    source: str
    """File name the program is written to (Java: the public class's name decides it)."""
    run: tuple[str, ...]
    """The program's command line, in its working directory (empty: Python, in-process)."""
    compile: tuple[str, ...] = ()
    """The compiler's command line (empty: interpreted)."""
    processes: int = 32
    """RLIMIT_NPROC: processes and threads (a JVM starts a dozen threads before `main`)."""


# Address space a job of another language than Python may map beyond its memory limit. Runtimes
# reserve far more than they use: Go's arenas and V8's code range (about 700 MiB before the first
# line runs), the JVM's spaces, the `go` command's and rustc's threads. Under an address-space
# limit of the job's memory alone, node, Go and Java did not start at 512 MiB, and at 1024 MiB
# `go tool compile` and tsc failed now and then. What a job uses is bounded by the supervisor,
# which stops it when the resident memory of all its processes passes the limit.
RESERVE_MIB = 1024
# One malloc arena per thread would reserve 64 MiB of address space each, as many as the threads
# that allocate (up to 8 a core); two keep what a program reserves the same from run to run.
MALLOC_ARENAS = 2


# The heap is half the job's memory (the JVM would size it from the address-space limit).
_JVM = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-Xss1m", "-Xmx{heap}m")
_JVM_MEMORY = ("-XX:CompressedClassSpaceSize=64m", "-XX:ReservedCodeCacheSize=48m")

LANGUAGES: dict[str, Language] = {
    language.name: language
    for language in (
        Language("python", (".py",), "main.py", ()),
        Language("javascript", (".js", ".cjs"), "main.js", ("node", "main.js")),
        Language(
            "typescript",
            (".ts",),
            "main.ts",
            ("node", "main.js"),
            (
                "tsc",
                "--target",
                "es2020",
                "--module",
                "commonjs",
                "--lib",
                "es2020",
                "--esModuleInterop",  # `import assert from 'assert'`, as models write it
                "--skipLibCheck",
                "--pretty",
                "false",
                "globals.d.ts",
                "main.ts",
            ),
        ),
        Language(
            "c",
            (".c",),
            "main.c",
            ("./main",),
            ("gcc", "-std=gnu17", "-O1", "-pipe", "-o", "main", "main.c", "-lm"),
        ),
        Language(
            "cpp",
            (".cc", ".cpp", ".cxx", ".c++"),
            "main.cpp",
            ("./main",),
            ("g++", "-std=gnu++17", "-O1", "-pipe", "-o", "main", "main.cpp"),
        ),
        # The standard library ships compiled (/usr/lib/go-*/pkg): `go tool compile` and `link`
        # need no build cache and skip the `go` command's module and cache work.
        Language(
            "go",
            (".go",),
            "main.go",
            ("./main",),
            (
                *("go", "tool", "compile", "-o", "main.o", "main.go", "&&"),
                *("go", "tool", "link", "-o", "main", "main.o"),
            ),
            processes=64,
        ),
        # Unoptimised, linked against the shared libstd: the fastest build of a small program.
        Language(
            "rust",
            (".rs",),
            "main.rs",
            ("./main",),
            (
                "rustc",
                "--edition",
                "2021",
                "-C",
                "opt-level=0",
                "-C",
                "debuginfo=0",
                "-C",
                "prefer-dynamic",
                "-o",
                "main",
                "main.rs",
            ),
            processes=64,
        ),
        Language(
            "java",
            (".java",),
            "Main.java",
            ("java", "-ea", *_JVM, *_JVM_MEMORY, "-cp", ".", "{main_class}"),
            ("javac", *(f"-J{flag}" for flag in (*_JVM, *_JVM_MEMORY)), "-d", ".", "{source}"),
            processes=96,
        ),
        Language("bash", (".sh", ".bash"), "main.sh", ("bash", "main.sh")),
    )
}
SUPPORTED = tuple(LANGUAGES)


class UnknownLanguage(ValueError):
    """A job names a language the sandbox does not run."""


def language(name: str, field: str = "language") -> Language:
    """The table entry of `name`; UnknownLanguage naming `field` and the supported list."""
    found = LANGUAGES.get(name)
    if found is None:
        raise UnknownLanguage(
            f"{field}: unknown language {name!r}; supported: {', '.join(SUPPORTED)}"
        )
    return found


def language_of_path(path: str) -> str:
    """The language of a program file from its extension; UnknownLanguage listing them."""
    lowered = path.lower()
    for entry in LANGUAGES.values():
        if any(lowered.endswith(extension) for extension in entry.extensions):
            return entry.name
    known = ", ".join(
        f"{e} ({entry.name})" for entry in LANGUAGES.values() for e in entry.extensions
    )
    raise UnknownLanguage(
        f"{path}: cannot tell the language from the file's extension; known: {known} "
        "(or run it through --jsonl with a `language` field)"
    )


_CLASS = re.compile(
    r"^[ \t]*((?:(?:public|final|abstract|strictfp|sealed|non-sealed)\s+)*)"
    r"(?:class|interface|enum|record)\s+([A-Za-z_$][\w$]*)",
    re.MULTILINE,
)
_MAIN = re.compile(r"\bvoid\s+main\s*\(")
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)


def java_main_class(program: str) -> tuple[str, str]:
    """(file name, class to run) of a Java program, whatever the model named its class.

    javac wants a public top-level class in a file of its name, so the file is named after the
    first `public class` (Main.java when there is none). The class run is the one declared last
    before the first `main` method (helper classes may come first, or be the public one).
    """
    text = _COMMENTS.sub("", program)
    declared = [
        (m.start(), "public" in m.group(1).split(), m.group(2)) for m in _CLASS.finditer(text)
    ]
    public = [name for _, is_public, name in declared if is_public]
    file_class = public[0] if public else "Main"
    main = _MAIN.search(text)
    before = [name for start, _, name in declared if main is not None and start < main.start()]
    run_class = before[-1] if before else file_class
    return f"{file_class}.java", run_class


class Plan(TypedDict):
    """How the supervisor runs one program (JSON: it travels to the forked job process)."""

    source: str
    compile: list[list[str]]
    run: list[str]
    processes: int
    address_space_mib: int
    """RLIMIT_AS: the job's memory and `RESERVE_MIB`."""
    files: dict[str, str]


def plan(name: str, program: str, memory_mib: int) -> Plan:
    """How the supervisor runs one program under `memory_mib`: its file name and the compile
    and run commands (`&&` splits a compile command into steps that run in turn)."""
    entry = language(name)
    source = entry.source
    main_class = ""
    if entry.name == "java":
        source, main_class = java_main_class(program)
    values = {"{source}": source, "{main_class}": main_class}

    def filled(word: str) -> str:
        return values.get(word, word).replace("{heap}", str(max(memory_mib // 2, 16)))

    compile_steps: list[list[str]] = [[]]
    for word in entry.compile:
        if word == "&&":
            compile_steps.append([])
        else:
            compile_steps[-1].append(filled(word))
    return {
        "source": source,
        "compile": [step for step in compile_steps if step],
        "run": [filled(word) for word in entry.run],
        "processes": entry.processes,
        "address_space_mib": memory_mib + RESERVE_MIB,
        "files": {"globals.d.ts": TS_GLOBALS} if entry.name == "typescript" else {},
    }
