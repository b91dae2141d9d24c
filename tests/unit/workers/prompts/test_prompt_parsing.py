"""Parsing model output: tags, fences and labels as weak models actually write them."""

from __future__ import annotations

import pytest

from codeinstruct.workers.prompts.parsing import code_blocks, fill, section
from codeinstruct.workers.prompts.selfcodealign import format as sca
from codeinstruct.workers.prompts.wavecoder import format as wc
from codeinstruct.workers.prompts.xcoder import format as xc

FENCE = "```"


def test_code_blocks_in_order_with_language_filter() -> None:
    text = (
        f"a\n{FENCE}python\nx = 1\n{FENCE}\nb\n{FENCE}js\nlet y\n{FENCE}\n{FENCE}\ny = 2\n{FENCE}\n"
    )
    assert code_blocks(text) == ["x = 1\n", "y = 2\n"]
    assert code_blocks(text, None) == ["x = 1\n", "let y\n", "y = 2\n"]


def test_unclosed_fence_runs_to_the_end() -> None:
    assert code_blocks(f"{FENCE}python\ndef f():\n    return 1\n") == ["def f():\n    return 1\n"]


def test_empty_and_blank_blocks_are_skipped() -> None:
    assert code_blocks("") == []
    assert code_blocks(f"{FENCE}python\n\n{FENCE}\n") == []
    assert code_blocks("no code here") == []


def test_longer_fence_contains_shorter_ones() -> None:
    text = f"````python\ns = '''\n{FENCE}\n'''\n````\n"
    assert code_blocks(text) == [f"s = '''\n{FENCE}\n'''\n"]


def test_section_unclosed_missing_and_case() -> None:
    assert section("x <TESTS>\nassert 1\n", "tests") == "assert 1"
    assert section("nothing", "tests") is None
    assert section("<a>one</a><a>two</a>", "a") == "one"


def test_fill_keeps_braces_and_dollars_in_values() -> None:
    assert fill("code: $code", code="d = {'a': '$x'}") == "code: d = {'a': '$x'}"


# SelfCodeAlign --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<concepts>recursion, memoization</concepts>", ["recursion", "memoization"]),
        ("<concepts>recursion, memoization", ["recursion", "memoization"]),
        ("<concepts>heaps, sorting\n```python\ndef f(x = 1, y = 2):", ["heaps", "sorting"]),
        ("<concepts>\nheaps, sorting\n</concepts>", ["heaps", "sorting"]),
        ("Sure! Here you go.\nConcepts: loops; sets", ["loops", "sets"]),
        ("**Concepts:** a, A, b", ["a", "b"]),
        ("list slicing, string methods\nmore text", ["list slicing", "string methods"]),
    ],
)
def test_parse_concepts(text: str, expected: list[str]) -> None:
    assert sca.parse_concepts(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "concepts_unparsable"),
        ("I cannot help", "concepts_unparsable"),
        ("<concepts> , </concepts>", "no_concepts"),
    ],
)
def test_parse_concepts_failures(text: str, reason: str) -> None:
    assert sca.parse_concepts(text) == sca.ParseFailure(reason)


def test_parse_instruction() -> None:
    assert sca.parse_instruction("blah <instruction>\nWrite f.\n</instruction> more") == "Write f."
    assert sca.parse_instruction("<instruction>Write g.") == "Write g."
    assert sca.parse_instruction("Instruction: Write h.") == "Write h."
    assert sca.parse_instruction("   ") == sca.ParseFailure("empty_instruction")
    assert sca.parse_instruction("<instruction></instruction>") == sca.ParseFailure(
        "empty_instruction"
    )
    assert sca.parse_instruction("<response>x</response>") == sca.ParseFailure(
        "instruction_unparsable"
    )
    assert sca.parse_instruction("word " * 201) == sca.ParseFailure("instruction_too_long")


def response(code: str, tests: str) -> str:
    return f"<response>\nIdea.\n{FENCE}python\n{code}{FENCE}\n</response>\n\n<tests>\n{FENCE}python\n{tests}{FENCE}\n</tests>"


def test_parse_response_well_formed() -> None:
    parsed = sca.parse_response(response("def f():\n    return 1\n", "assert f() == 1\n"))
    assert isinstance(parsed, sca.ParsedResponse)
    assert parsed.code == "def f():\n    return 1\n"
    assert parsed.tests == "assert f() == 1\n"
    assert parsed.response.startswith("Idea.")


def test_parse_response_cut_by_stop_sequence_and_unclosed_fence() -> None:
    text = f"<response>\n{FENCE}python\ndef f():\n    return 1\n{FENCE}\n</response>\n<tests>\n{FENCE}python\nassert f() == 1\n"
    parsed = sca.parse_response(text)
    assert isinstance(parsed, sca.ParsedResponse)
    assert parsed.tests == "assert f() == 1\n"


def test_parse_response_multiple_blocks_are_joined() -> None:
    text = (
        f"<response>{FENCE}python\nimport math\n{FENCE}\ntext\n{FENCE}python\ndef g():\n    return math.pi\n{FENCE}</response>"
        f"<tests>{FENCE}python\nassert g() > 3\n{FENCE}\n{FENCE}python\nassert g() < 4\n{FENCE}</tests>"
    )
    parsed = sca.parse_response(text)
    assert isinstance(parsed, sca.ParsedResponse)
    assert parsed.code == "import math\ndef g():\n    return math.pi\n"
    assert parsed.tests == "assert g() > 3\nassert g() < 4\n"


def test_parse_response_without_response_tag_and_bare_tests() -> None:
    text = f"Here:\n{FENCE}python\nx = 2\n{FENCE}\n<tests>\nassert x == 2\n</tests>"
    parsed = sca.parse_response(text)
    assert isinstance(parsed, sca.ParsedResponse)
    assert parsed.code == "x = 2\n"
    assert parsed.tests == "assert x == 2\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "missing_tests"),
        (f"<response>{FENCE}python\nx = 1\n{FENCE}</response>", "missing_tests"),
        ("<response>just words</response><tests>assert True</tests>", "no_code"),
        (
            f"<response>{FENCE}python\nx = 1\n{FENCE}</response><tests>check it works!</tests>",
            "no_tests",
        ),
        (response("x = 1\n", "print(x)\n"), "tests_without_assert"),
    ],
)
def test_parse_response_failures(text: str, reason: str) -> None:
    assert sca.parse_response(text) == sca.ParseFailure(reason)


def test_tests_followup_only_for_code_without_tests() -> None:
    stopped = f"<response>\n{FENCE}python\ndef f():\n    return 1\n{FENCE}\n</response>"
    assert sca.needs_tests_followup(stopped)
    assert not sca.needs_tests_followup("<response>no code</response>")
    assert not sca.needs_tests_followup(response("x = 1\n", "assert x\n"))
    messages = sca.format_tests_followup([{"role": "user", "content": "task"}], stopped)
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert "<tests>" in messages[-1]["content"]
    for reply in (
        f"<tests>\n{FENCE}python\nassert f() == 1\n{FENCE}",
        f"{FENCE}python\nassert f() == 1\n{FENCE}",
    ):
        joined = sca.parse_response(sca.join_tests_followup(stopped, reply))
        assert isinstance(joined, sca.ParsedResponse) and joined.tests == "assert f() == 1\n"
    assert sca.parse_response(sca.join_tests_followup(stopped, "I can't.")) == sca.ParseFailure(
        "no_tests"
    )


def test_prompts_have_few_shot_turns_and_the_query_last() -> None:
    shots = list(sca.examples()[:2])
    messages = sca.format_concepts("def f(x):\n    return x", shots)
    assert [m["role"] for m in messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
    ]
    assert "def f(x):" in messages[-1]["content"]
    assert messages[2]["content"].startswith("<concepts>")
    messages = sca.format_instruction(["loops"], "class", "hard", shots)
    assert "class implementation" in messages[-1]["content"] and "hard" in messages[-1]["content"]
    messages = sca.format_response("Write f.", shots[:1])
    assert isinstance(sca.parse_response(messages[2]["content"]), sca.ParsedResponse)


def test_task_kind_sampling_covers_all_and_is_seeded() -> None:
    import random

    kinds = {sca.sample_task_kind(random.Random(i)) for i in range(200)}
    assert {c for c, _ in kinds} == set(sca.CATEGORIES)
    assert {d for _, d in kinds} == set(sca.DIFFICULTIES)
    assert sca.sample_task_kind(random.Random(7)) == sca.sample_task_kind(random.Random(7))


# WaveCoder ------------------------------------------------------------------------------------


def test_parse_generated_sections() -> None:
    text = f"Sure.\nInstruction: Write a Python function.\nInformation: <noinput>\nSolution:\n{FENCE}python\nx = 1\n{FENCE}\n"
    example = wc.parse_generated(text)
    assert isinstance(example, wc.TaskExample)
    assert example.instruction == "Write a Python function."
    assert example.information == "<noinput>"
    assert example.solution == f"{FENCE}python\nx = 1\n{FENCE}"


def test_parse_generated_bold_labels_missing_information_and_failures() -> None:
    example = wc.parse_generated("**Instruction:** Do it in Go.\n**Solution:** done")
    assert isinstance(example, wc.TaskExample)
    assert example.information == "<noinput>" and example.solution == "done"
    assert wc.parse_generated("Solution: x") == wc.ParseFailure("generation_unparsable")
    assert wc.parse_generated("") == wc.ParseFailure("generation_unparsable")
    assert wc.parse_generated("Instruction: x\nSolution:") == wc.ParseFailure("empty_solution")


def test_parse_judgement() -> None:
    text = "1. <answer: yes, names Python>\n2. <answer: no, solution is wrong>\nOverall answer: no"
    judged = wc.parse_judgement(text)
    assert isinstance(judged, wc.Judgement)
    assert not judged.verdict and judged.answers == [True, False]
    assert judged.reasons[1] == "solution is wrong"
    judged = wc.parse_judgement("<answer: yes>\n<answer: no, x>\nOverall answer: **Yes**")
    assert isinstance(judged, wc.Judgement)
    assert judged.verdict and not judged.accepted
    assert wc.parse_judgement("Overall answer: <answer: yes>").accepted  # type: ignore[union-attr]
    assert wc.parse_judgement("1. yes\n2. yes") == wc.ParseFailure("judge_unparsable")
    assert wc.parse_judgement("") == wc.ParseFailure("judge_unparsable")


@pytest.mark.parametrize("task_type", ["generation", "summarization", "translation", "repair"])
def test_every_task_type_has_a_definition_and_whole_examples(task_type: str) -> None:
    task = wc.task_definition(task_type)
    assert task.checklist and task.definition
    for example in (task.good, task.bad):
        assert example.instruction and example.solution and example.information
    assert task.bad.analysis
    messages = wc.format_generator(task, "def f():\n    return 1\n", task.good, task.bad, "Rust")
    content = messages[0]["content"]
    assert task.good.instruction in content and task.bad.solution.strip() in content
    assert task.bad.analysis in content and "Target language: Rust" in content
    assert "def f():" in content
    judge = wc.format_judge(task, task.good)[0]["content"]
    assert all(q in judge for q in task.checklist)


# XCoder ---------------------------------------------------------------------------------------


def test_unit_test_script_parsing() -> None:
    script = "def test_script():\n    print(f'Test case {1}: {True}')\n"
    assert xc.parse_unit_tests(f"text\n{FENCE}python\n{script}{FENCE}") == script
    assert xc.parse_unit_tests("no code") == xc.ParseFailure("no_test_script")
    assert xc.parse_unit_tests(f"{FENCE}python\nassert True\n{FENCE}") == xc.ParseFailure(
        "test_script_without_case_lines"
    )
    assert xc.parse_unit_tests(f"{FENCE}python\nx=1\n{FENCE}\n{FENCE}python\n{script}") == script


def test_unit_test_prompt_names_k_and_the_line_format() -> None:
    content = xc.format_unit_tests(
        "Add.", f"{FENCE}python\ndef add(a, b):\n    return a + b\n{FENCE}", 12
    )[0]["content"]
    assert "exactly 12 test cases" in content and "Test case <i>: True" in content
    assert "def add(a, b):" in content
    assert xc.solution_code("def f(): pass") == "def f(): pass\n"
