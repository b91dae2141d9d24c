"""What SelfCodeAlign needs to know of each language it generates in (pure): the fence tags
of its code blocks, how its tests assert (the idiom the I->R prompt asks for, and the marker a
test part must contain), and how a solution and its tests make one program.

Test idioms (each one throws or exits non-zero on a failed check; none of them can be turned
off by the program's build):
- python: top-level `assert` statements;
- javascript, typescript: the `assert` module (`require('assert')` / `import assert from
  'assert'`); `console.assert` only prints, so a test part using it is rejected;
- rust: `assert!` / `assert_eq!` / `assert_ne!` inside `fn main()`;
- go: a `func main()` that calls `panic(...)` when a check fails;
- java: a `public class Main` whose `main` throws `new AssertionError(...)` (Java's own
  `assert` statement is off unless the JVM runs with `-ea`, so it does not count);
- cpp: `assert(...)` from `<cassert>` in `int main()`; the program is prefixed with
  `#undef NDEBUG`, and a test part that defines `NDEBUG` is rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LANGUAGES = ("python", "javascript", "typescript", "java", "go", "rust", "cpp")

FENCE_TAGS: dict[str, frozenset[str]] = {
    "python": frozenset({"", "python", "py", "python3"}),
    "javascript": frozenset({"", "javascript", "js", "node", "nodejs", "mjs"}),
    "typescript": frozenset({"", "typescript", "ts"}),
    "java": frozenset({"", "java"}),
    "go": frozenset({"", "go", "golang"}),
    "rust": frozenset({"", "rust", "rs"}),
    "cpp": frozenset({"", "cpp", "c++", "cxx", "cc", "hpp"}),
}
# The fence tag the prompts write.
FENCE = {
    "python": "python",
    "javascript": "javascript",
    "typescript": "typescript",
    "java": "java",
    "go": "go",
    "rust": "rust",
    "cpp": "cpp",
}
NAMES = {
    "python": "Python",
    "javascript": "JavaScript (Node.js)",
    "typescript": "TypeScript",
    "java": "Java",
    "go": "Go",
    "rust": "Rust",
    "cpp": "C++",
}

_NODE_ASSERT = (
    r"require\(\s*['\"](?:node:)?assert(?:/strict)?['\"]\s*\)"
    r"|\bimport\s+(?:\*\s+as\s+)?\w+\s+from\s+['\"](?:node:)?assert(?:/strict)?['\"]"
)


@dataclass(frozen=True)
class AssertIdiom:
    prompt: str
    """How the I->R prompt asks for the tests."""
    marker: str
    """A test part must match this (it asserts in a way that can fail)."""
    forbidden: str | None = None
    """A test part matching this cannot fail as written (rejected as `no_assert`)."""


IDIOMS: dict[str, AssertIdiom] = {
    "python": AssertIdiom(
        "assert statements at the top level of one ```python code block, calling what the "
        "solution defines",
        r"\bassert\b",
    ),
    "javascript": AssertIdiom(
        "one ```javascript code block that starts with `const assert = require('assert');` and "
        "checks the solution with `assert.strictEqual`, `assert.deepStrictEqual` or `assert(...)` "
        "(never `console.assert`, which does not throw)",
        _NODE_ASSERT,
        r"\bconsole\.assert\b",
    ),
    "typescript": AssertIdiom(
        "one ```typescript code block that starts with `import assert from 'assert';` and checks "
        "the solution with `assert.strictEqual`, `assert.deepStrictEqual` or `assert(...)` "
        "(never `console.assert`, which does not throw)",
        _NODE_ASSERT,
        r"\bconsole\.assert\b",
    ),
    "java": AssertIdiom(
        "one ```java code block holding `public class Main` with a `public static void "
        "main(String[] args)` that throws `new AssertionError(...)` when a check fails (the "
        "solution's classes are not public)",
        r"\bthrow\s+new\s+AssertionError\b",
    ),
    "go": AssertIdiom(
        "one ```go code block holding `func main()` that calls `panic(...)` when a check fails "
        "(no package clause and no imports: the solution's `package main` and imports come "
        "first)",
        r"\bpanic\s*\(",
    ),
    "rust": AssertIdiom(
        "one ```rust code block holding `fn main()` that checks the solution with `assert_eq!`, "
        "`assert_ne!` or `assert!`",
        r"\bassert(?:_eq|_ne)?!\s*\(",
    ),
    "cpp": AssertIdiom(
        "one ```cpp code block holding `int main()` that checks the solution with `assert(...)` "
        "(`<cassert>` is included for you; never define NDEBUG)",
        r"\bassert\s*\(",
        r"#\s*define\s+NDEBUG\b",
    ),
}


def fence_language(tag: str) -> str | None:
    """The language a code fence's tag names (None: untagged or unknown)."""
    tag = tag.strip().lower()
    return next((lang for lang, tags in FENCE_TAGS.items() if tag and tag in tags), None)


def assertion_reason(language: str, tests: str) -> str | None:
    """`no_assert` when the test part does not assert in the language's idiom (or asserts in a
    way that cannot fail), else None."""
    idiom = IDIOMS[language]
    if not re.search(idiom.marker, tests):
        return "no_assert"
    if idiom.forbidden and re.search(idiom.forbidden, tests):
        return "no_assert"
    return None


def program_of(language: str, solution: str, tests: str) -> str:
    """The solution and its tests as one program of `language`."""
    body = f"{solution.rstrip()}\n\n{tests.rstrip()}\n"
    if language == "cpp":
        return f"#undef NDEBUG\n#include <cassert>\n{body}"
    if language == "go" and not re.search(r"^\s*package\s+\w+", solution, re.MULTILINE):
        return f"package main\n\n{body}"
    return body


_FENCED = re.compile(r"^[ \t]*```[ \t]*([\w+#-]*)[^\n]*\n(.*?)^[ \t]*```", re.MULTILINE | re.DOTALL)
_DEFINED = re.compile(
    r"\b(?:function\*?|fn|func|class|struct|interface|enum|trait)\s+(?:\([^)]*\)\s*)?(\w+)"
    r"|^[ \t]*(?:[\w:<>,\[\]*&]+[ \t]+)+(\w+)[ \t]*\([^;{()]*\)[ \t]*(?:const[ \t]*)?"
    r"(?:throws[ \t]+[\w., ]+)?\{",
    re.MULTILINE,
)
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_KEYWORDS = frozenset({"if", "for", "while", "switch", "catch", "return", "else", "new"})


def tagged_blocks(text: str, language: str) -> list[str]:
    """The non-empty blocks of `text` whose fence tag names `language` (untagged ones are not:
    the analogue of the sanitize step's "a ```python block")."""
    return [
        m.group(2)
        for m in _FENCED.finditer(text)
        if fence_language(m.group(1)) == language and m.group(2).strip()
    ]


def defined_names(code: str) -> frozenset[str]:
    """The names of the functions, methods and types `code` defines (a lexical scan)."""
    names = {a or b for a, b in _DEFINED.findall(code)}
    return frozenset(names - _KEYWORDS)


def code_representation(code: str) -> str:
    """The code without comments and blank lines (what near-dedup compares)."""
    lines = (line.rstrip() for line in _COMMENT.sub("", code).splitlines())
    return "\n".join(line for line in lines if line.strip()) + "\n"
