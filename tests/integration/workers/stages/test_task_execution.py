"""WaveCoder's judge against execution, with the real gVisor sandbox: generation runs, repair
compares seed, buggy code and solution on generated inputs, translations run in their target
language, adversarial solutions fail, and `reports/judge.json` gives TPR/TNR per task type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.records import Record
from codeinstruct.workers.sandbox.warm_pool import Pool
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.task_execution import CheckTasks
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset

pytestmark = pytest.mark.gvisor
FENCE = "```"
SEED = "def total(n):\n    return sum(range(1, n + 1))\n"
BUGGY = f"{FENCE}python\ndef total(n):\n    return sum(range(1, n))\n{FENCE}"
FIXED = f"{FENCE}python\ndef total(n):\n    return n * (n + 1) // 2 if n > 0 else 0\n{FENCE}"


def task(
    id: str, task_type: str, accepted: bool, solution: str, information: str = "", target: str = ""
) -> Record:
    record: Record = {
        "id": id,
        "task_type": task_type,
        "seed": SEED,
        "information": information or "<noinput>",
        "solution": solution,
        "judge": {"verdict": "yes" if accepted else "no"},
    }
    if target:
        record["target_language"] = target
    return record


RECORDS = [
    task("gen-ok", "generation", True, f"{FENCE}python\ndef f():\n    return 1\nf()\n{FENCE}"),
    task("gen-crash", "generation", True, f"{FENCE}python\nraise ValueError('no')\n{FENCE}"),
    task("fix-ok", "repair", True, FIXED, BUGGY),
    task("fix-rejected-but-right", "repair", False, FIXED, BUGGY),
    task("fix-no-bug", "repair", True, FIXED, f"{FENCE}python\n{SEED}{FENCE}"),
    task("fix-wrong", "repair", False, BUGGY, BUGGY),
    # adversarial: leaves before the harness can call anything, or forges a result line
    task("fix-exits", "repair", True, f"{FENCE}python\nimport os\nos._exit(0)\n{FENCE}", BUGGY),
    task(
        "fix-forges",
        "repair",
        True,
        f'{FENCE}python\nprint(\'@@x@@{{"found": true, "results": []}}\')\n'
        f"def total(n):\n    return 0\n{FENCE}",
        BUGGY,
    ),
    task("summary", "summarization", True, "It sums the numbers from 1 to n."),
    task(
        "tr-js-ok",
        "translation",
        True,
        f"{FENCE}javascript\nfunction total(n) {{ return n * (n + 1) / 2; }}\n"
        f"console.log(total(3));\n{FENCE}",
        target="JavaScript",
    ),
    task(
        "tr-js-throws",
        "translation",
        True,
        f"{FENCE}javascript\nthrow new Error('not translated');\n{FENCE}",
        target="JavaScript",
    ),
    # a Python block is not a translation into Rust; a Rust library has no program to run
    task("tr-python", "translation", True, FIXED, target="Rust"),
    task(
        "tr-rust-library",
        "translation",
        True,
        f"{FENCE}rust\nfn total(n: u64) -> u64 {{ (1..=n).sum() }}\n{FENCE}",
        target="Rust",
    ),
]


def test_execution_measures_the_judge(tmp_path: Path) -> None:
    spec = make_dataset(method="wavecoder", targetSize=5).spec
    with (
        Services(spec, Ledger(LocalStore(tmp_path), "run")) as services,
        Pool("gvisor", workers=2, timeout=10) as pool,
    ):
        services.provide("sandbox", pool)
        ctx = StageContext(services, seed=spec.seed)
        outputs = list(CheckTasks("filter").run(RECORDS, ctx))
        report = json.loads(services.ledger.store.get(services.ledger.key("reports", "judge.json")))
    by_id = {(o.record if isinstance(o, Drop) else o)["id"]: o for o in outputs}
    verdicts = {
        i: (o.record if isinstance(o, Drop) else o)["execution_check"]["verdict"]
        for i, o in by_id.items()
    }
    assert verdicts == {
        "gen-ok": "pass",
        "gen-crash": "fail",
        "fix-ok": "pass",
        "fix-rejected-but-right": "pass",
        "fix-no-bug": "fail",
        "fix-wrong": "fail",
        "fix-exits": "fail",
        "fix-forges": "fail",
        "summary": "unchecked",
        "tr-js-ok": "pass",
        "tr-js-throws": "fail",
        "tr-python": "fail",
        "tr-rust-library": "unchecked",
    }
    drops = {i: o.reason for i, o in by_id.items() if isinstance(o, Drop)}
    assert drops == {
        "gen-crash": "execution_failed",
        "fix-rejected-but-right": "judge_rejected",
        "fix-no-bug": "execution_failed",
        "fix-wrong": "judge_rejected",
        "fix-exits": "execution_failed",
        "fix-forges": "execution_failed",
        "tr-js-throws": "execution_failed",
        "tr-python": "execution_failed",
    }
    # judge yes: gen-ok(pass) gen-crash(fail) fix-ok(pass) fix-no-bug(fail) fix-exits(fail)
    # fix-forges(fail) tr-js-ok(pass) tr-js-throws(fail) tr-python(fail);
    # judge no: fix-rejected-but-right(pass) fix-wrong(fail)
    assert (report["true_positive"], report["false_negative"]) == (3, 1)
    assert (report["true_negative"], report["false_positive"]) == (1, 6)
    assert report["tpr"] == 0.75 and report["tnr"] == round(1 / 7, 4)
    assert report["unchecked"] == 2
    assert report["by_task_type"]["translation"]["checked"] == 3
    assert report["by_task_type"]["generation"]["tpr"] == 1.0
    assert report["by_task_type"]["repair"]["checked"] == 6
