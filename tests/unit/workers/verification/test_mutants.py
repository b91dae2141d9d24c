"""The null variant and the seeded mutants (pure rewrites; the rewritten code is ours, run here)."""

from __future__ import annotations

from typing import Any

import pytest

from codeinstruct.workers.verification.mutants import mutants, null_variant

SOLUTION = '''
class Counter:
    """Counts things."""

    def __init__(self, start=0):
        self.value = start

    @property
    def double(self):
        return self.value * 2

    def bump(self):
        self.value += 1
        return self.value


square = lambda x: x * x


def clamp(x, low, high):
    """Keep x in [low, high]."""
    def inner(v):
        return max(low, min(v, high))
    return inner(x)


LIMIT = 10
'''


def load(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(code, "<variant>", "exec"), namespace)
    return namespace


def test_null_variant_makes_every_function_method_and_lambda_raise() -> None:
    namespace = load(null_variant(SOLUTION))
    for call in (
        lambda: namespace["Counter"](),
        lambda: namespace["square"](3),
        lambda: namespace["clamp"](5, 0, 3),
    ):
        with pytest.raises(NotImplementedError, match="null variant"):
            call()
    # Module-level statements, class bodies and docstrings stay.
    assert namespace["LIMIT"] == 10
    assert namespace["Counter"].__doc__ == "Counts things."
    assert namespace["clamp"].__doc__ == "Keep x in [low, high]."
    instance = object.__new__(namespace["Counter"])
    with pytest.raises(NotImplementedError):
        _ = instance.double
    with pytest.raises(NotImplementedError):
        instance.bump()


def test_null_variant_of_unparsable_code_is_a_syntax_error() -> None:
    with pytest.raises(SyntaxError):
        null_variant("def f(:\n")


def test_mutants_change_behaviour_one_site_each_and_are_seeded() -> None:
    code = "def f(a, b):\n    if a < b:\n        return a + 1\n    return b - a\n"
    first = mutants(code, 3, "seed-1")
    assert first == mutants(code, 3, "seed-1")
    assert len(first) == 3 and len({m.code for m in first}) == 3
    original = load(code)["f"]
    inputs = [(1, 2), (2, 1), (0, 0), (-3, 4), (5, 5)]
    for mutant in first:
        assert mutant.code != code
        changed = load(mutant.code)["f"]
        assert any(changed(*args) != original(*args) for args in inputs), mutant.change
    # Sites: `<`, `+`, `1`, `-`: asking for more gives each once.
    assert len(mutants(code, 10, "x")) == 4
    assert mutants(code, 0, "x") == []
    assert mutants("X = 1 + 2\n", 3, "x") == [], "only function bodies are mutated"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("def f(x):\n    return x == 1\n", "NotEq"),
        ("def f(x):\n    return x in (1, 2)\n", "NotIn"),
        ("def f(x, y):\n    return x and y\n", "Or"),
        ("def f(x):\n    return not x\n", "not removed"),
        ("def f():\n    return True\n", "True -> False"),
        ("def f(x):\n    x *= 3\n    return x\n", "Mult -> Add"),
    ],
)
def test_each_mutation_kind(code: str, expected: str) -> None:
    changes = [m.change for m in mutants(code, 5, "s")]
    assert any(expected in change for change in changes), changes


# HumanEval/44: a mutant of `x //= base` never ends (`x *= base`); killed only by its timeout, it
# says nothing of the tests and cost more sandbox time than all the other mutants together.
TO_BASE = (
    "def change_base(x, base):\n"
    "    ret = ''\n"
    "    while x > 0:\n"
    "        ret = str(x % base) + ret\n"
    "        x //= base\n"
    "    return ret\n"
)


def test_the_update_of_a_while_loops_own_condition_is_mutated_last() -> None:
    # Sites: `>`, `0` (the test), `%`, `+` (the line that builds `ret`), `//=` (the update of
    # `x`, which the loop's test reads). Whatever the seed, four mutants leave the update alone,
    # and a fifth can only be it.
    for seed in range(30):
        chosen = mutants(TO_BASE, 4, str(seed))
        assert len(chosen) == 4
        assert not [m.change for m in chosen if m.change.startswith("line 5:")], seed
    assert [m.change for m in mutants(TO_BASE, 5, "0") if m.change.startswith("line 5:")] == [
        "line 5: FloorDiv -> Mult"
    ]
    # The updates of other names than the test's stay as likely as any site.
    accumulate = "def f(n):\n    total = 0\n    while n > 0:\n        total += n\n        n -= 1\n    return total\n"
    changes = {m.change for seed in range(30) for m in mutants(accumulate, 2, str(seed))}
    assert "line 4: Add -> Sub" in changes
