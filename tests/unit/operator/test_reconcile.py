"""Pure reconcile: conditions, failures and progress from observed children and the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from codeinstruct.operator.constants import Phase
from codeinstruct.operator.ledger_view import LedgerView
from codeinstruct.operator.reconcile import Observed, Plan, needs_rerun, reconcile
from codeinstruct.operator.settings import Settings
from codeinstruct.operator.stages import scoring_boundary, stage_phase
from codeinstruct.operator.status import StageProgress, Status
from codeinstruct.workers.spec import InstructionDataset
from tests.conftest import make_dataset

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def vllm_dataset() -> InstructionDataset:
    return make_dataset(generator={"backend": "vllm", "model": "org/m"})


def ledger(*stages: tuple[str, int, bool], exported: bool = False) -> LedgerView:
    return LedgerView(
        stages=[
            StageProgress(name=n, shards=s, records_out=10 * s, complete=c) for n, s, c in stages
        ],
        output_uri="s3://b/p/dataset",
        exported=exported,
    )


def available(name: str, kind: str = "Deployment") -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name}, "status": {"availableReplicas": 1}}


def ready_children(dataset: InstructionDataset, **extra: dict[str, Any]) -> dict[str, Any]:
    name = dataset.metadata.name
    return {
        f"Deployment/{name}-vllm": available(f"{name}-vllm"),
        f"Deployment/{name}-sandbox": available(f"{name}-sandbox"),
        **extra,
    }


def run(dataset: InstructionDataset, status: Status | None = None, **observed: Any) -> Plan:
    observed.setdefault("children", {})
    observed.setdefault("ledger", ledger())
    observed.setdefault("now", NOW)
    return reconcile(dataset, "data", status or Status(), Observed(**observed), Settings())


def conditions(plan: Plan) -> dict[str, Any]:
    return {c.type: c for c in plan.status.conditions}


def test_waits_for_servers_before_the_driver() -> None:
    dataset = vllm_dataset()
    plan = run(dataset)
    kinds = sorted(m["kind"] for m in plan.apply)
    assert "Job" not in kinds and kinds.count("Deployment") == 2
    assert conditions(plan)["Ready"].status == "False"
    assert plan.status.phase is Phase.PENDING and "generator" in (plan.status.message or "")
    plan = run(dataset, children=ready_children(dataset))
    assert any(m["kind"] == "Job" for m in plan.apply)
    assert plan.status.phase is Phase.GENERATING and plan.status.start_time


def test_unschedulable_generator_says_why_then_fails_after_grace() -> None:
    dataset = vllm_dataset()
    pod = {
        "metadata": {
            "name": "test-vllm-abc",
            "labels": {"codeinstruct.dev/dataset": "test", "app.kubernetes.io/component": "vllm"},
        },
        "status": {
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/3 nodes: 3 Insufficient nvidia.com/gpu",
                }
            ]
        },
    }
    plan = run(dataset, pods=[pod])
    generator = conditions(plan)["GeneratorReady"]
    assert (
        generator.reason == "Unschedulable" and "Insufficient nvidia.com/gpu" in generator.message
    )
    assert any(e.reason == "Unschedulable" and e.type == "Warning" for e in plan.events)
    later = run(dataset, plan.status, pods=[pod], now=NOW + timedelta(hours=1))
    assert later.status.phase is Phase.FAILED and later.status.reason == "Unschedulable"
    assert "Insufficient nvidia.com/gpu" in (later.status.message or "")


def test_storage_unreachable_is_a_condition() -> None:
    dataset = vllm_dataset()
    plan = run(
        dataset,
        children=ready_children(dataset),
        ledger=None,
        storage_error="s3://b: storage unreachable (ConnectionRefused)",
    )
    storage = conditions(plan)["StorageReady"]
    assert storage.status == "False" and "unreachable" in storage.message
    assert not any(m["kind"] == "Job" for m in plan.apply)
    assert any(e.type == "Warning" and e.reason == "StorageUnreachable" for e in plan.events)


def test_progress_percentage_and_eta() -> None:
    dataset = vllm_dataset()
    started = Status(phase=Phase.GENERATING, start_time="2026-01-01T11:00:00Z")
    children = ready_children(
        dataset, **{"Job/test-driver": {"kind": "Job", "status": {"active": 1}}}
    )
    view = ledger(("seeds", 4, True), ("seed_decontam", 2, False), ("seed_dedup", 0, False))
    plan = run(
        dataset,
        started,
        children=children,
        ledger=view,
        stage_names=["seeds", "seed_decontam", "seed_dedup"],
    )
    assert plan.status.progress == "1/3"
    assert plan.status.progress_percentage == 50  # 1 stage + half of the next, of 3
    assert plan.status.estimated_remaining_seconds == 3600
    assert plan.status.selection == "40/100"


def test_scoring_runs_after_the_driver_and_a_failed_rayjob_fails() -> None:
    dataset = make_dataset(scoring={"engine": "ray"}, generator={"backend": "vllm", "model": "m"})
    names = ["pool", "execute_tests", "select"]
    done = {"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    children = ready_children(dataset, **{"Job/test-driver": done})
    plan = run(
        dataset,
        Status(phase=Phase.EXECUTING),
        children=children,
        stage_names=names,
        rayjob_available=True,
    )
    assert plan.status.phase is Phase.SCORING
    assert any(m["kind"] == "RayJob" for m in plan.apply)
    failed = {"kind": "RayJob", "status": {"jobDeploymentStatus": "Failed", "message": "OOMKilled"}}
    children["RayJob/test-scoring"] = failed
    plan = run(dataset, plan.status, children=children, stage_names=names, rayjob_available=True)
    assert plan.status.phase is Phase.FAILED and "OOMKilled" in (plan.status.message or "")


def test_stage_phases_and_scoring_boundary() -> None:
    assert stage_phase("execute_tests") is Phase.EXECUTING
    assert stage_phase("select") is Phase.SCORING
    assert stage_phase("instructions") is Phase.GENERATING
    assert scoring_boundary(["seeds", "execute", "embed", "select"]) == "execute"
    assert stage_phase("complexity") is Phase.GENERATING
    xcoder = ["pool", "leakage", "complexity", "unit_tests", "quality", "embed", "select"]
    assert scoring_boundary(xcoder) == "quality", "LLM and sandbox work stays in the driver"
    assert scoring_boundary(["seeds", "dedup"]) is None
    assert scoring_boundary(None) is None


def test_rerun_only_on_real_changes() -> None:
    done = Status(phase=Phase.SUCCEEDED, observed_generation=1, signature="abc")
    assert not needs_rerun(done, 2, "abc")  # e.g. suspend toggled after success
    assert needs_rerun(done, 2, "def")
    failed = Status(phase=Phase.FAILED, observed_generation=1, signature="abc")
    assert needs_rerun(failed, 2, "abc") and not needs_rerun(failed, 1, "abc")


def test_events_only_on_transitions() -> None:
    dataset = vllm_dataset()
    children = ready_children(dataset, **{"Job/test-driver": {"kind": "Job", "status": {}}})
    first = run(dataset, children=children)
    second = run(dataset, first.status, children=children)
    assert first.events and not second.events
