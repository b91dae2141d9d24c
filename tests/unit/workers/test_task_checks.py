"""The judge-vs-execution checks' pure half: generated inputs, the repair verdict from three
harnesses' result lines, and the agreement counts (TPR, TNR)."""

from __future__ import annotations

import json
import random

from codeinstruct.workers.task_checks import (
    agreement,
    first_function,
    generated_inputs,
    harness,
    harness_results,
    repair_verdict,
)

TOKEN = "@@t@@"


def results(*values: str, found: bool = True) -> dict[str, object]:
    return {"found": found, "results": list(values)}


def test_first_function_and_inputs_follow_the_seed_signature() -> None:
    assert first_function("import math\n\ndef area(r, scale=1):\n    return r\n") == ("area", 1)
    assert first_function("x = (") is None
    inputs = generated_inputs(2, random.Random(1))
    assert len(inputs) == 24 and all(len(i) == 2 for i in inputs)
    assert inputs == generated_inputs(2, random.Random(1)), "seeded"
    assert generated_inputs(0, random.Random(1)) == [[]]


def test_the_result_line_is_the_last_one_bearing_the_token() -> None:
    forged = f"{TOKEN}{json.dumps(results('1'))}\nchatter\n{TOKEN}{json.dumps(results('2'))}\n"
    assert harness_results(forged, TOKEN) == results("2")
    assert harness_results("no token here\n", TOKEN) is None
    assert harness_results(f"{TOKEN}not json\n", TOKEN) is None
    program = harness("def f(x):\n    return x\n", "f", [[1]], TOKEN)
    assert "exec(compile(SOURCE" in program and TOKEN in program


def test_repair_holds_when_the_bug_shows_and_the_fix_matches_the_seed() -> None:
    seed = results("1", "3", "!TypeError")
    assert (
        repair_verdict(seed, results("0", "3", "!TypeError"), results("1", "3", "x")).verdict
        == "pass"
    )
    # the third input is one the seed rejects: it does not count either way
    same = repair_verdict(seed, results("1", "3", "!ValueError"), results("1", "3", "!X"))
    assert same.verdict == "fail" and "behaves like the seed" in same.detail
    wrong = repair_verdict(seed, results("0", "3", "x"), results("1", "4", "x"))
    assert wrong.verdict == "fail" and "solution differs" in wrong.detail
    assert repair_verdict(seed, results("0", "3"), None).verdict == "fail", "no result: failed"
    assert repair_verdict(seed, results(found=False), results("1", "3")).verdict == "fail"
    assert repair_verdict(None, results("0"), results("1")).verdict == "unchecked"
    assert repair_verdict(results("!E"), results("0"), results("1")).verdict == "unchecked"


def test_agreement_counts_the_judge_against_execution() -> None:
    pairs = [(True, "pass"), (True, "pass"), (False, "pass"), (True, "fail"), (False, "fail")]
    report = agreement([*pairs, (True, "unchecked")])  # type: ignore[list-item]
    assert report["checked"] == 5 and report["unchecked"] == 1
    assert (report["true_positive"], report["false_negative"]) == (2, 1)
    assert (report["true_negative"], report["false_positive"]) == (1, 1)
    assert report["tpr"] == round(2 / 3, 4) and report["tnr"] == 0.5
    assert agreement([])["tpr"] is None and agreement([])["tnr"] is None
