"""SelfCodeAlign's sanitize chain: each rule on its own, then each stage on records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from codeinstruct.workers.methods.selfcodealign import sanitize_stages, stages
from codeinstruct.workers.records import Record
from codeinstruct.workers.sanitize import (
    code_representation,
    exact_duplicates,
    format_problem,
    function_names,
    incomplete_marker,
    repeated_keys,
)
from codeinstruct.workers.stages.base import Drop, Stage, StageContext, StageKind, StageOutput
from codeinstruct.workers.stages.sanitize import (
    CodeRepresentation,
    ExactDedup,
    IncompleteResponse,
    InstructionLength,
    NameDiversity,
    WrongFormat,
)
from tests.helpers.specs import make_dataset
from tests.helpers.stages import stage_context, stage_services

F = "```"


def fenced(code: str, lang: str = "python") -> str:
    return f"Here is the idea.\n\n{F}{lang}\n{code}\n{F}\n"


ADD = "def add(a, b):\n    return a + b"


def test_tests_that_only_define_never_run_are_wrong_format() -> None:
    response = fenced(ADD)
    assert format_problem(response, "assert add(1, 2) == 3\n") is None
    assert format_problem(response, "def test_add():\n    assert add(1, 2) == 3\n") == (
        "no_top_level_test"
    )
    unittest_without_runner = (
        "import unittest\n\n\nclass T(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(1, 2), 3)\n"
    )
    assert format_problem(response, unittest_without_runner) == "no_top_level_test"
    assert format_problem(response, unittest_without_runner + "\nunittest.main()\n") is None
    assert format_problem(response, '"""Only a docstring."""\npass\n') == "no_top_level_test"
    called = "def test_add():\n    assert add(1, 2) == 3\n\n\ntest_add()\n"
    assert format_problem(response, called) is None
    assert format_problem(response, fenced(called)) is None, "fenced tests are read too"
    # Unparsable tests are judged line by line, as the reference does.
    assert format_problem(response, "def t(:\n    assert x\n") == "no_top_level_test"
    assert format_problem(response, "assert add(1, 2) == 3 )\n") is None


def test_a_response_needs_a_python_block() -> None:
    tests = "assert add(1, 2) == 3\n"
    assert format_problem("Just prose, no code.", tests) == "no_python_block"
    assert format_problem(fenced(ADD, "bash"), tests) == "no_python_block"
    assert format_problem(fenced(ADD, ""), tests) == "no_python_block"
    assert format_problem(fenced("", "python"), tests) == "no_python_block"
    assert format_problem(fenced(ADD, "py"), tests) is None


def test_incompleteness_markers() -> None:
    for text in [
        "# TODO: handle negative numbers",
        "    pass  # FIXME",
        "# Write your code here",
        "# your code goes here",
        "raise NotImplementedError",
        "raise NotImplementedError('later')",
    ]:
        assert incomplete_marker(fenced(text)) is not None, text
    for text in [
        "todos = []",
        "def fixmeup(x): return x",
        "return add(a, b)",
        "return NotImplemented",
    ]:
        assert incomplete_marker(fenced(text)) is None, text


def test_exact_dedup_shares_one_set_of_seen_texts() -> None:
    instructions = ["Add two numbers.", " Add two numbers.\n", "Div.", "Sub.", "Mul.", "Pow."]
    responses = ["r1", "r2", "r1", "r3", "Sub.", "r2"]
    assert exact_duplicates(instructions, responses) == [
        None,
        "duplicate_instruction",
        "duplicate_response",
        None,
        "duplicate_response",  # a response equal to an instruction seen before
        None,  # the texts of dropped pairs are not remembered, as in the reference
    ]


def test_function_names_are_normalised_sets_of_top_level_names() -> None:
    assert function_names("def is_prime(n):\n    def helper(): pass\n    return n\n") == {"isprime"}
    assert function_names(
        "class Ring_Buffer:\n    def push(self): pass\ndef IsPrime(): pass\n"
    ) == {
        "ringbuffer",
        "isprime",
    }
    assert function_names("def broken(:\n") == {"broken"}
    assert repeated_keys([frozenset({"a"}), frozenset(), frozenset({"a"}), frozenset()]) == [
        None,
        None,
        0,
        None,
    ]


def test_code_representation_keeps_defs_and_drops_docstrings_and_comments() -> None:
    code = (
        '"""Module docstring."""\nimport math\n\n\ndef area(r):  # a circle\n'
        '    """The area."""\n    return math.pi * r * r\n\n\nclass Shape:\n'
        '    """A shape."""\n\n\nprint(area(2))\n'
    )
    assert code_representation(code) == (
        "def area(r):\n    return math.pi * r * r\n\nclass Shape:\n    pass"
    )
    reformatted = "def area( r ):\n    '''Other words.'''\n    return (math.pi * r * r)\n"
    assert code_representation(reformatted) == code_representation(code).split("\n\n")[0]
    assert code_representation("x = 1\nprint(x)  # show\n") == "x = 1\nprint(x)"


# The stages -----------------------------------------------------------------------------------


def context(tmp_path: Path, **spec: Any) -> StageContext:
    return stage_context(stage_services(tmp_path, **spec))


def run(stage: Stage, records: list[Record], ctx: StageContext) -> tuple[list[str], dict[str, str]]:
    outputs: list[StageOutput] = list(stage.run(records, ctx))
    kept = [o["id"] for o in outputs if not isinstance(o, Drop)]
    dropped = {o.record["id"]: o.reason for o in outputs if isinstance(o, Drop)}
    assert len(kept) + len(dropped) == len(records), "every record is kept or dropped"
    return kept, dropped


def pair(id: str, instruction: str, code: str, tests: str = "assert f() == 1") -> Record:
    return {"id": id, "instruction": instruction, "response": fenced(code), "tests": tests}


def test_single_record_stages_give_their_reasons(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    records = [
        pair("ok", "Write f.", "def f():\n    return 1"),
        pair("uncalled", "Write f.", "def f():\n    return 1", "def test():\n    assert f() == 1"),
        {**pair("prose", "Write f.", ""), "response": "I cannot."},
        pair("stub", "Write f.", "def f():\n    raise NotImplementedError"),
        pair("long", "word " * 201, "def f():\n    return 1"),
    ]
    assert run(WrongFormat(), records, ctx)[1] == {
        "uncalled": "no_top_level_test",
        "prose": "no_python_block",
    }
    assert run(IncompleteResponse(), records, ctx)[1] == {"stub": "incomplete_marker"}
    assert run(InstructionLength(200), records, ctx)[1] == {"long": "instruction_too_long"}
    assert run(InstructionLength(300), records, ctx)[1] == {}


def test_whole_stages_keep_the_same_record_whatever_the_input_order(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    records = [
        pair("b", "Add numbers.", "def add(a, b):\n    return a + b"),
        pair("a", "Add numbers.", "def total(a, b):\n    return a + b"),
        pair("c", "Sum numbers.", "def total(a, b):\n    return a + b"),
        pair("d", "Count words.", "def Add(x, y):\n    return x + y"),
        pair("e", "Count words twice.", "def count(t):\n    return len(t.split())"),
    ]
    kept, dropped = run(ExactDedup(), records, ctx)
    assert dropped == {"b": "duplicate_instruction", "c": "duplicate_response"}
    assert run(ExactDedup(), records[::-1], ctx) == (kept[::-1], dropped)
    kept, dropped = run(NameDiversity(), records, ctx)
    assert dropped == {"c": "repeated_function_names", "d": "repeated_function_names"}
    assert set(kept) == {"a", "b", "e"}
    assert run(NameDiversity(), records[::-1], ctx)[1] == dropped


def test_code_representation_stage_adds_the_field_or_drops(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    records = [
        {**pair("ok", "Write f.", "def f():\n    '''Doc.'''\n    return 1"), "code": ""},
        pair("bad", "Write g.", "def g(:\n    return 1"),
    ]
    outputs = list(CodeRepresentation().run(records, ctx))
    assert outputs[0]["code_representation"] == "def f():\n    return 1"  # type: ignore[index]
    assert isinstance(outputs[1], Drop) and outputs[1].reason == "code_syntax_error"


def test_minhash_dedup_on_instruction_response_and_code(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    body = "\n".join(f"    total += values[{i}] * weights[{i}] - offset_{i}" for i in range(30))
    code = f"def score(values, weights):\n    total = 0\n{body}\n    return total"
    task = "Write a function that scores a list of values " + " ".join(
        f"step{i}" for i in range(60)
    )
    records = [
        pair("a", task, code),
        # Same instruction but one word: an instruction near-duplicate.
        pair("b", task + " please", "def other(x):\n    return x * 2"),
        # The same code, documented and commented on every line: only the code representation
        # shows it (the response's text shares few 5-gram shingles with the first one's).
        {
            **pair("c", "Something else entirely.", ""),
            "response": fenced(
                "\n".join(
                    [code.splitlines()[0], '    """Weighted score."""']
                    + [f"{line}  # note {i} on it" for i, line in enumerate(code.splitlines()[1:])]
                )
            ),
        },
        pair("d", "Reverse a string.", "def rev(s):\n    return s[::-1]"),
    ]
    chain = sanitize_stages(make_dataset().spec)
    assert [s.name for s in chain] == [
        "instruction_length",
        "exact_dedup",
        "name_diversity",
        "code_representation",
        "instruction_dedup",
        "response_dedup",
        "code_dedup",
    ]
    by_name = {s.name: s for s in chain}
    with_repr = [o for o in by_name["code_representation"].run(records, ctx)]
    assert not any(isinstance(o, Drop) for o in with_repr)
    reprs = [o for o in with_repr if not isinstance(o, Drop)]
    assert run(by_name["instruction_dedup"], reprs, ctx)[1] == {"b": "near_duplicate_instruction"}
    assert run(by_name["code_dedup"], reprs, ctx)[1] == {"c": "near_duplicate_code"}
    assert run(by_name["response_dedup"], reprs, ctx)[1] == {}


def test_every_sanitize_stage_declares_a_kind_and_sits_in_the_method() -> None:
    spec = make_dataset().spec
    names = [s.name for s in stages(spec)]
    assert names.index("wrong_format") < names.index("execute") < names.index("pick_response")
    assert names.index("pick_response") < names.index("instruction_length")
    assert names.index("code_dedup") < names.index("decontam")
    for stage in [*sanitize_stages(spec), WrongFormat(), IncompleteResponse()]:
        assert isinstance(stage.kind, StageKind)


def test_other_languages_get_the_analogues_of_the_python_rules(tmp_path: Path) -> None:
    ctx = context(tmp_path)

    def rust(rid: str, code: str, tag: str = "rust") -> Record:
        return {
            "id": rid,
            "language": "rust",
            "instruction": f"task {rid}",
            "response": fenced(code, tag),
            "tests": "fn main() { assert_eq!(f(1), 1); }",
        }

    first = rust("a", "/// one\nfn f(x: i32) -> i32 { x }")
    same_names = rust("b", "fn f(y: i32) -> i32 { y + 0 }")
    other = rust("c", "fn g(x: i32) -> i32 { x }")
    untagged = rust("d", "fn h(x: i32) -> i32 { x }", "")
    kept, dropped = run(WrongFormat(), [first, untagged], ctx)
    assert (kept, dropped) == (["a"], {"d": "no_code_block"})
    kept, dropped = run(NameDiversity(), [first, same_names, other], ctx)
    assert kept == ["a", "c"] and dropped == {"b": "repeated_function_names"}
    (represented,) = CodeRepresentation().run([first], ctx)
    assert not isinstance(represented, Drop)
    assert represented["code_representation"] == "fn f(x: i32) -> i32 { x }\n"
