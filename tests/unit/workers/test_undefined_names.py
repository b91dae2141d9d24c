"""Seeds must be self-contained: names their code reads but the seed text never binds."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeinstruct.workers.stages.base import Drop
from codeinstruct.workers.stages.seed_names import UndefinedNames
from codeinstruct.workers.stages.seeds import extract_seeds
from codeinstruct.workers.undefined_names import undefined_names
from tests.helpers.specs import make_dataset
from tests.helpers.stages import stage_context, stage_services


def test_private_helpers_and_module_constants_are_undefined() -> None:
    seed = "import re\n\n\ndef clean(text):\n    return re.sub(PATTERN, _fix(text), text)\n"
    assert undefined_names(seed) == ["PATTERN", "_fix"]


def test_builtins_parameters_locals_imports_and_own_defs_are_bound() -> None:
    seed = (
        "import math\nfrom collections import Counter as C\n\n\n"
        "def f(values, *rest, key=None, **extra):\n"
        "    total = sum(len(v) for v in values)\n"
        "    def inner(x):\n        return x + total\n"
        "    counts = C(values)\n"
        "    return f(rest) if rest else [inner(n) for n in counts] + [math.pi, __name__]\n"
    )
    assert undefined_names(seed) == []


def test_nested_scopes_classes_and_global_assignments() -> None:
    assert undefined_names("def f():\n    return lambda: [LIMIT for _ in range(3)]\n") == ["LIMIT"]
    assert undefined_names("class A:\n    size = WIDTH\n    def m(self):\n        return A\n") == [
        "WIDTH"
    ]
    bound_by_global = "def f():\n    global cache\n    cache = {}\n    return cache\n"
    assert undefined_names(bound_by_global) == []
    assert undefined_names("from os.path import *\n\n\ndef f(p):\n    return join(p)\n") == []
    with pytest.raises(SyntaxError):
        undefined_names("def f(:\n")


def test_extracted_seeds_keep_their_imports_and_lose_module_helpers() -> None:
    module = (
        "import math\n\n_SCALE = 2\n\n\n"
        "def _helper(x):\n    return x\n\n\n"
        'def area(r):\n    """The area of a circle of radius r."""\n    return math.pi * r * r\n\n\n'
        'def scaled(r):\n    """The radius scaled by the module factor."""\n'
        "    return _helper(r) * _SCALE\n"
    )
    seeds = {c.name: (c.imports + "\n\n\n" + c.code) for c in extract_seeds(module, _mining())}
    assert undefined_names(seeds["area"]) == []
    assert undefined_names(seeds["scaled"]) == ["_SCALE", "_helper"]


def test_the_stage_drops_with_the_names_and_is_on_by_default(tmp_path: Path) -> None:
    assert make_dataset().spec.mining.undefined_names
    ctx = stage_context(stage_services(tmp_path))
    records = [
        {"id": "a", "seed": "def f(x):\n    return x * 2\n"},
        {"id": "b", "seed": "def g(x):\n    return helper(x)\n"},
        {"id": "c", "seed": "def h(x:\n"},
    ]
    out = list(UndefinedNames().run(records, ctx))
    assert out[0] == records[0]
    assert isinstance(out[1], Drop) and out[1].reason == "undefined_name"
    assert out[1].record["undefined_names"] == ["helper"]
    assert isinstance(out[2], Drop) and out[2].reason == "syntax_error"


def _mining():  # type: ignore[no-untyped-def]
    return make_dataset().spec.mining
