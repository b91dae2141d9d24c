"""WaveCoder's generator as the reference runs it: good examples shown with the code they were
made from, `task_name` parsed, and the reference's output rules (instruction of one or two
sentences, information of at most two, at most one `<noinput>`, one example per answer), each
a drop with its own reason."""

from __future__ import annotations

import pytest

from codeinstruct.workers.prompts.wavecoder import format as wc

FENCE = "```"


def answer(instruction: str, information: str = "<noinput>", solution: str = "x = 1") -> str:
    return (
        f"Task name: Add numbers\nInstruction: {instruction}\nInformation: {information}\n"
        f"Solution:\n{FENCE}python\n{solution}\n{FENCE}\n"
    )


def test_task_name_is_parsed() -> None:
    parsed = wc.parse_generated(answer("Write a Python function that adds two numbers."))
    assert isinstance(parsed, wc.TaskExample)
    assert parsed.task_name == "Add numbers"
    assert parsed.instruction == "Write a Python function that adds two numbers."


@pytest.mark.parametrize(
    ("instruction", "ok"),
    [
        ("Write a Python function that adds two numbers.", True),
        ("Write a Python function. It adds two numbers.", True),
        ("Write a Python function. It adds two numbers. Use `a.b` carefully! Thanks.", False),
        ("Write Python. Add. Return the sum.", False),
    ],
)
def test_instruction_is_one_or_two_sentences(instruction: str, ok: bool) -> None:
    parsed = wc.parse_generated(answer(instruction))
    assert (
        isinstance(parsed, wc.TaskExample)
        if ok
        else parsed == wc.ParseFailure("instruction_sentences")
    )


def test_information_is_at_most_two_sentences_of_prose_code_aside() -> None:
    code = f"{FENCE}python\ndef f(a, b):\n    # one. two. three.\n    return a.b\n{FENCE}"
    two = "The formula is a + b. Both are ints."
    three = "The formula is a + b. Both are ints. Negative numbers work too."
    instruction = "Fix the bug in this Python function."
    assert isinstance(wc.parse_generated(answer(instruction, two)), wc.TaskExample)
    assert isinstance(wc.parse_generated(answer(instruction, f"{two}\n{code}")), wc.TaskExample)
    assert wc.parse_generated(answer(instruction, three)) == wc.ParseFailure("information_too_long")


def test_at_most_one_noinput_and_none_means_noinput() -> None:
    instruction = "Write a Python function that adds two numbers."
    both = (
        f"Task name: x\nInstruction: {instruction}\nInformation: <noinput>\nSolution: <noinput>\n"
    )
    assert wc.parse_generated(both) == wc.ParseFailure("too_many_noinput")
    parsed = wc.parse_generated(answer(instruction, "None."))
    assert isinstance(parsed, wc.TaskExample) and parsed.information == "<noinput>"


def test_two_examples_in_one_answer_are_dropped() -> None:
    twice = answer("Write a Python function that adds.") + answer("Write one that subtracts.")
    assert wc.parse_generated(twice) == wc.ParseFailure("multiple_examples")


@pytest.mark.parametrize("task_type", ["generation", "summarization", "translation", "repair"])
def test_good_examples_are_shown_with_their_input_code(task_type: str) -> None:
    task = wc.task_definition(task_type)
    assert task.good.input.strip(), "every shipped good example has the code it was made from"
    content = wc.format_generator(task, "def seed():\n    return 0\n", task.good, task.bad)[0][
        "content"
    ]
    shown = content.index(task.good.input.strip())
    assert shown < content.index(task.good.instruction), "input first, then what it became"
    assert content.index("def seed():") > content.index(task.bad.analysis), "the seed comes last"
    assert f"Task name: {task.good.task_name}" in content


@pytest.mark.parametrize("task_type", ["generation", "summarization", "translation", "repair"])
def test_shipped_good_examples_obey_the_rules_they_teach(task_type: str) -> None:
    good = wc.task_definition(task_type).good
    parsed = wc.parse_generated(wc.render_example(good))
    assert isinstance(parsed, wc.TaskExample), parsed
    assert parsed.instruction == good.instruction and parsed.task_name == good.task_name
