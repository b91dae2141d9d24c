from __future__ import annotations

from codeinstruct.workers.extraction import build_program, code_blocks, strip_main_block

RESPONSE = """Here is the function.

```python
def add(a, b):
    return a + b
```

And a helper:

```
def twice(x):
    return add(x, x)
```

```bash
rm -rf /
```
"""
TESTS = "```python\nassert add(1, 2) == 3\nassert twice(2) == 4\n```"


def test_python_and_unlabelled_blocks_are_concatenated() -> None:
    blocks = code_blocks(RESPONSE)
    assert len(blocks) == 2 and "rm -rf" not in "".join(blocks)
    program, reason = build_program(RESPONSE, TESTS)
    assert reason is None and program is not None
    namespace: dict[str, object] = {}
    exec(program, namespace)  # the program is valid and its asserts hold
    assert program.index("def add") < program.index("def twice") < program.index("assert add")


def test_bare_test_code_is_accepted() -> None:
    program, reason = build_program(RESPONSE, "assert add(2, 2) == 4\n")
    assert reason is None and program is not None and program.endswith("assert add(2, 2) == 4\n")


def test_drop_reasons() -> None:
    assert build_program("no code at all", TESTS) == (None, "no_code_block")
    assert build_program(RESPONSE, "```python\nprint(add(1, 2))\n```") == (None, "no_assert")
    assert build_program(RESPONSE, "") == (None, "no_assert")


def test_main_block_is_stripped_only_when_the_code_reads_input() -> None:
    reading = (
        "```python\ndef solve(n):\n    return n * 2\n\n"
        "if __name__ == '__main__':\n    n = int(input())\n    print(solve(n))\n```"
    )
    program, _ = build_program(reading, "assert solve(2) == 4")
    assert program is not None and "input(" not in program and "__main__" not in program
    printing = (
        '```python\ndef f():\n    return 1\n\nif __name__ == "__main__":\n    print(f())\n```'
    )
    program, _ = build_program(printing, "assert f() == 1")
    assert program is not None and "__main__" in program


def test_strip_main_block_keeps_what_follows_and_survives_syntax_errors() -> None:
    code = "x = 1\nif __name__ == '__main__':\n    x = input()\ny = 2\n"
    assert strip_main_block(code) == "x = 1\ny = 2\n"
    broken = "def f(:\n    pass\nif __name__ == '__main__':\n    input()\n"
    assert strip_main_block(broken) == "def f(:\n    pass\n"
