"""The leakage, selection and coreset stages on records with stored vectors (no model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.embeddings import encode_npy
from codeinstruct.workers.methods.selfcodealign import stages
from codeinstruct.workers.stages.base import Drop, StageContext
from codeinstruct.workers.stages.coreset import Coreset
from codeinstruct.workers.stages.decontam import SubstringDecontam
from codeinstruct.workers.stages.leakage import LeakageFilter
from codeinstruct.workers.stages.select import Select
from tests.helpers.stages import stage_context, stage_services


def context(tmp_path: Path, **spec: Any) -> StageContext:
    return stage_context(stage_services(tmp_path, **spec))


def select(ctx: StageContext) -> Select:
    spec = ctx.services.spec
    return Select(spec.scoring, spec.target_size)


def with_vectors(ctx: StageContext, records: list[dict[str, Any]], vectors: Any) -> None:
    key = ctx.services.ledger.key("embeddings", "test", "v.npy")
    ctx.services.ledger.store.put(key, encode_npy(np.asarray(vectors, dtype=np.float32)))
    for row, record in enumerate(records):
        record["embedding_ref"] = {"key": key, "row": row}


def report(ctx: StageContext, name: str) -> Any:
    ledger = ctx.services.ledger
    return json.loads(ledger.store.get(ledger.key("reports", f"{name}.json")))


def test_leakage_filter_drops_benchmark_copies_and_reports_tli(tmp_path: Path) -> None:
    ctx = context(tmp_path, method="wavecoder")
    problem = humaneval_problems()[7]
    records = [
        {"id": "a", "seed": "def add(a, b):\n    return a + b\n"},
        {"id": "b", "seed": problem["prompt"] + problem["canonical_solution"]},
        {"id": "c", "instruction": "Explain this.", "solution": problem["prompt"]},
    ]
    out = list(
        LeakageFilter(("seed", "instruction", "solution"), ctx.services.spec.decontamination).run(
            records, ctx
        )
    )
    assert [o["id"] for o in out if not isinstance(o, Drop)] == ["a"]
    assert {o.reason for o in out if isinstance(o, Drop)} == {"leakage_humaneval"}
    summary = report(ctx, "leakage")["benchmarks"]["humaneval"]
    assert summary["before"]["tli_max"] > 0.9  # padding: not 1.0 unless the text is the item
    assert summary["before"]["most_leaked"][0]["task_id"] == problem["task_id"]
    assert summary["after"]["tli_max"] < 0.05
    assert summary["leaked_records"] == 2


def test_select_uses_complexity_when_present_else_length(tmp_path: Path) -> None:
    records = [
        {"id": f"r{i}", "instruction": "word " * (10 - i), "response": "x", "quality": i % 2}
        for i in range(6)
    ]
    vectors = np.eye(6)
    vectors[1] = vectors[0]  # r1 duplicates r0: never both
    ctx = context(tmp_path, method="xcoder", targetSize=3, scoring={"alpha": 1.0})
    with_vectors(ctx, records, vectors)
    out = list(select(ctx).run(records, ctx))
    kept = [o["id"] for o in out if not isinstance(o, Drop)]
    assert kept == ["r0", "r2", "r3"]  # longest instructions first, r1 too similar to r0
    reasons = {o.record["id"]: o.reason for o in out if isinstance(o, Drop)}
    assert reasons == {"r1": "too_similar", "r4": "below_target", "r5": "below_target"}
    assert "instruction length" in report(ctx, "selection")["complexity"]

    for i, record in enumerate(records):
        record["complexity"] = float(i)  # now the LLM score: reversed order
    ctx = context(tmp_path / "2", method="xcoder", targetSize=3, scoring={"alpha": 1.0})
    with_vectors(ctx, records, vectors)
    kept = [o["id"] for o in select(ctx).run(records, ctx) if not isinstance(o, Drop)]
    assert kept == ["r5", "r4", "r3"]
    assert "llm" in report(ctx, "selection")["complexity"]


def test_coreset_writes_the_selected_records(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 8))
    records = [{"id": f"s{i}", "seed": str(i)} for i in range(50)]
    ctx = context(tmp_path, method="wavecoder", targetSize=5)
    with_vectors(ctx, records, vectors)
    out = list(Coreset(5, ctx.services.spec.scoring).run(records, ctx))
    kept = [o for o in out if not isinstance(o, Drop)]
    assert [r["coreset_rank"] for r in kept] == [0, 1, 2, 3, 4]
    first = int(kept[0]["id"][1:])
    from tests.oracles import textbook_kcenter

    assert [int(r["id"][1:]) for r in kept] == textbook_kcenter(vectors, 5, first)
    assert sum(isinstance(o, Drop) for o in out) == 45
    assert report(ctx, "coreset")["selected"] == 5


def test_substring_decontamination_ignores_case(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    problem = humaneval_problems()[7]
    solution = problem["canonical_solution"]
    records = [
        {"id": "same", "response": f"```python\n{solution}\n```"},
        {"id": "upper", "response": f"```python\n{solution.upper()}\n```"},
        {"id": "clean", "response": "```python\ndef add(a, b):\n    return a + b\n```"},
    ]
    stage = SubstringDecontam(
        "decontam", ("instruction", "response"), ctx.services.spec.decontamination
    )
    out = list(stage.run(records, ctx))
    assert [o.record["id"] for o in out if isinstance(o, Drop)] == ["same", "upper"]
    assert {o.reason for o in out if isinstance(o, Drop)} == {"benchmark_humaneval"}


def test_leakage_fields_are_configurable_and_the_instruction_tli_is_reported(
    tmp_path: Path,
) -> None:
    problem = humaneval_problems()[7]
    records = [
        {"id": "a", "instruction": "Add two numbers.", "response": problem["prompt"]},
        {"id": "b", "instruction": problem["prompt"], "response": "```python\npass\n```"},
        {"id": "c", "instruction": "Reverse a list.", "response": "Use slicing."},
    ]
    ctx = context(tmp_path)
    (leakage,) = [s for s in stages(ctx.services.spec) if isinstance(s, LeakageFilter)]
    assert leakage.fields == ("instruction", "response")
    out = list(leakage.run(records, ctx))
    assert [o.record["id"] for o in out if isinstance(o, Drop)] == ["a", "b"]
    measured = report(ctx, "leakage")
    comparable = measured["xcoder_comparable"]
    assert comparable["fields"] == ["instruction"]
    before = comparable["benchmarks"]["humaneval"]["before"]
    # On the instruction alone only `b` leaks: the item's best match is `b`, not `a`.
    assert before["most_leaked"][0]["record"] == "b"
    assert comparable["benchmarks"]["humaneval"]["after"]["tli_max"] < 0.05

    ctx = context(tmp_path / "instruction-only", decontamination={"fields": ["instruction"]})
    (leakage,) = [s for s in stages(ctx.services.spec) if isinstance(s, LeakageFilter)]
    out = list(leakage.run(records, ctx))
    assert [o.record["id"] for o in out if isinstance(o, Drop)] == ["b"]
    assert "xcoder_comparable" not in report(ctx, "leakage"), "the filter's TLI is XCoder's"
