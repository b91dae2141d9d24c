"""Pure reconcile: conditions, failures and progress from observed children and the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from codeinstruct.operator.constants import Phase
from codeinstruct.operator.ledger_view import LedgerView
from codeinstruct.operator.reconcile import Observed, Plan, needs_rerun, reconcile
from codeinstruct.operator.settings import Settings
from codeinstruct.operator.stages import PlannedStage, scoring_boundary, stage_names
from codeinstruct.operator.status import StageProgress, Status
from codeinstruct.workers.spec import InstructionDataset, run_signature
from codeinstruct.workers.stages.base import StageKind
from tests.conftest import make_dataset

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def cluster_dataset(**spec: Any) -> InstructionDataset:
    """A dataset as the cluster runs it: output in object storage unless told otherwise."""
    spec.setdefault("output", {"uri": "s3://b/p"})
    return make_dataset(**spec)


def vllm_dataset() -> InstructionDataset:
    return cluster_dataset(generator={"backend": "vllm", "model": "org/m"})


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
    """One tick; the stages are the method's own (`stage_names` only documents them)."""
    names = observed.pop("stage_names", None)
    assert names is None or names == stage_names(dataset.spec)
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
    plan = run(dataset, started, children=children, ledger=view)
    assert plan.status.progress == "1/22"
    # 1 stage + half of the next, of SelfCodeAlign's 22: 1.5/22 = 6.8 %, one hour in.
    assert plan.status.progress_percentage == 6
    assert plan.status.estimated_remaining_seconds == 3600 * 41 // 3
    assert plan.status.selection == "40/100"


def test_scoring_runs_after_the_driver_and_a_failed_rayjob_fails() -> None:
    dataset = cluster_dataset(
        scoring={"engine": "ray"}, generator={"backend": "vllm", "model": "m"}
    )
    names = SCA_STAGES
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


def test_scoring_boundary_from_stage_kinds() -> None:
    """The driver keeps every generate/execute stage; the scoring child takes what follows."""
    xcoder = stage_names(cluster_dataset(method="xcoder").spec) or []
    assert xcoder[-3:] == ["quality", "embed", "select"]
    planned = [
        PlannedStage(n, StageKind(k))
        for n, k in [("pool", "prepare"), ("ask", "generate"), ("run", "execute"), ("cut", "score")]
    ]
    assert scoring_boundary(planned) == "run"
    assert scoring_boundary(planned[:3]) is None, "nothing follows: no boundary"
    assert scoring_boundary([PlannedStage("x", StageKind.SCORE)]) is None
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


SCA_STAGES = [
    "seeds",
    "seed_names",
    "seed_decontam",
    "seed_dedup",
    "seed_sample",
    "concepts",
    "instructions",
    "responses",
    "wrong_format",
    "incomplete",
    "execute",
    "pick_response",
    "instruction_length",
    "exact_dedup",
    "name_diversity",
    "code_representation",
    "instruction_dedup",
    "response_dedup",
    "code_dedup",
    "decontam",
    "leakage",
    "target_size",
]


def driver_command(plan: Plan) -> list[str]:
    job = next(m for m in plan.apply if m["kind"] == "Job")
    return list(job["spec"]["template"]["spec"]["containers"][0]["command"])


def test_driver_runs_every_stage_when_no_scoring_child_follows() -> None:
    """Audit #1: the default engine (`local`) gets no scoring child, so the driver must not
    stop at the scoring boundary (leakage and target_size would never run)."""
    dataset = vllm_dataset()
    plan = run(dataset, children=ready_children(dataset), stage_names=SCA_STAGES)
    assert "--until" not in driver_command(plan)
    ray = cluster_dataset(
        scoring={"engine": "ray"}, generator={"backend": "vllm", "model": "org/m"}
    )
    plan = run(ray, children=ready_children(ray), stage_names=SCA_STAGES)
    assert driver_command(plan)[-2:] == ["--until", "execute"]


def test_success_needs_the_final_stage_completion_marker() -> None:
    """A card under the run prefix is not enough: the method's last stage must be complete."""
    dataset = vllm_dataset()
    done = {"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    children = ready_children(dataset, **{"Job/test-driver": done})
    cut = [(n, 1, n not in {"leakage", "target_size"}) for n in SCA_STAGES]
    early = run(
        dataset,
        Status(phase=Phase.SCORING),
        children=children,
        stage_names=SCA_STAGES,
        ledger=ledger(*cut, exported=True),
    )
    assert early.status.phase is not Phase.SUCCEEDED
    full = [(n, 1, True) for n in SCA_STAGES]
    finished = run(
        dataset,
        Status(phase=Phase.SCORING),
        children=children,
        stage_names=SCA_STAGES,
        ledger=ledger(*full, exported=True),
    )
    assert finished.status.phase is Phase.SUCCEEDED


def running_driver(signature: str, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Job",
        "metadata": {
            "name": "test-driver",
            "annotations": {"codeinstruct.dev/signature": signature},
        },
        "status": {"active": 1, **status},
    }


def test_spec_edit_mid_run_restarts_cleanly() -> None:
    """Audit #2: an edit that changes the signature while the driver runs restarts the run
    (the old Job goes, Pending, a Normal event) instead of stranding it."""
    before = vllm_dataset()
    edited = cluster_dataset(generator={"backend": "vllm", "model": "org/m"}, targetSize=200)
    old = Status(
        phase=Phase.GENERATING, signature=run_signature(before.spec), observed_generation=1
    )
    children = ready_children(edited, **{"Job/test-driver": running_driver(old.signature or "")})
    plan = run(edited, old, children=children, generation=2)
    assert ("batch/v1", "Job", "test-driver") in plan.delete
    assert plan.status.phase is Phase.PENDING
    assert plan.status.signature == run_signature(edited.spec)
    assert any(e.type == "Normal" and e.reason == "SpecChanged" for e in plan.events)


def test_operator_upgrade_does_not_move_a_running_dataset() -> None:
    """Same generation, a different signature (new prompts in a new operator): the running
    Job keeps its signature and nothing is deleted."""
    dataset = vllm_dataset()
    pinned = "0123456789ab"
    old = Status(phase=Phase.GENERATING, signature=pinned, observed_generation=1)
    children = ready_children(dataset, **{"Job/test-driver": running_driver(pinned)})
    plan = run(dataset, old, children=children, generation=1)
    assert plan.delete == [] and plan.status.signature == pinned
    assert plan.status.phase is Phase.GENERATING


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({"jobDeploymentStatus": "Retrying", "jobStatus": "FAILED"}, "running"),
        ({"jobDeploymentStatus": "Running", "jobStatus": "FAILED"}, "running"),
        ({"jobDeploymentStatus": "Initializing"}, "running"),
        ({"jobDeploymentStatus": "ValidationFailed", "message": "bad spec"}, "failed"),
        ({"jobDeploymentStatus": "Failed", "jobStatus": "FAILED"}, "failed"),
        ({"jobDeploymentStatus": "Complete", "jobStatus": "SUCCEEDED"}, "complete"),
        ({"jobDeploymentStatus": "Complete", "jobStatus": "FAILED"}, "failed"),
    ],
)
def test_rayjob_terminal_states_as_kuberay_defines_them(
    state: dict[str, str], expected: str
) -> None:
    """Audit #6: only Complete, Failed and ValidationFailed are terminal (KubeRay's
    IsJobDeploymentTerminal); Retrying while jobStatus is FAILED is still running."""
    dataset = cluster_dataset(
        scoring={"engine": "ray"}, generator={"backend": "vllm", "model": "m"}
    )
    done = {"kind": "Job", "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    rayjob = {"kind": "RayJob", "status": state}
    children = ready_children(dataset, **{"Job/test-driver": done, "RayJob/test-scoring": rayjob})
    plan = run(
        dataset,
        Status(phase=Phase.SCORING),
        children=children,
        ledger=ledger(*[(n, 1, True) for n in SCA_STAGES]),
        rayjob_available=True,
    )
    phase = {"running": Phase.SCORING, "failed": Phase.FAILED, "complete": Phase.SUCCEEDED}
    assert plan.status.phase is phase[expected]


def test_rerun_resets_complete_and_failed() -> None:
    """Audit #8: Complete and Failed are never both True, and a rerun resets both."""
    dataset = vllm_dataset()
    failed = run(
        dataset,
        Status(phase=Phase.GENERATING),
        children=ready_children(
            dataset,
            **{
                "Job/test-driver": {
                    "kind": "Job",
                    "status": {
                        "conditions": [
                            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}
                        ]
                    },
                }
            },
        ),
    )
    assert failed.status.phase is Phase.FAILED
    cond = conditions(failed)
    assert cond["Failed"].status == "True" and cond["Ready"].status == "False"
    assert cond.get("Complete") is None or cond["Complete"].status != "True"
    again = run(dataset, failed.status, children={}, generation=2)
    cond = conditions(again)
    assert again.status.phase is Phase.PENDING
    assert cond["Failed"].status == "False" and cond["Complete"].status == "False"


def test_ready_is_false_once_failed_even_with_servers_up() -> None:
    dataset = vllm_dataset()
    failed = Status(phase=Phase.FAILED, observed_generation=1, reason="DriverJobFailed")
    plan = run(dataset, failed, children=ready_children(dataset), generation=1)
    assert conditions(plan)["Ready"].status == "False"


def test_waiting_is_a_normal_event() -> None:
    """Audit #21: waiting for servers on the first tick is normal, not a Warning."""
    plan = run(vllm_dataset())
    waiting = [e for e in plan.events if e.reason == "WaitingForDependencies"]
    assert waiting and all(e.type == "Normal" for e in waiting)


@pytest.mark.parametrize(
    ("method", "done", "running", "phase"),
    [
        # SelfCodeAlign: decontam (prepare) after execute must not go back to Generating;
        # every LLM and sandbox stage is done, so the run is Scoring.
        ("selfcodealign", SCA_STAGES[: SCA_STAGES.index("decontam")], "decontam", Phase.SCORING),
        ("selfcodealign", SCA_STAGES[: SCA_STAGES.index("execute")], "execute", Phase.EXECUTING),
        # WaveCoder: embed/coreset (score) come before generation: not Scoring yet.
        (
            "wavecoder",
            ["seeds", "seed_decontam", "seed_dedup", "embed"],
            "coreset",
            Phase.GENERATING,
        ),
    ],
)
def test_phases_follow_stage_kinds_and_never_go_back(
    method: str, done: list[str], running: str, phase: Phase
) -> None:
    dataset = cluster_dataset(method=method, generator={"backend": "vllm", "model": "m"})
    names = stage_names(dataset.spec) or []
    view = ledger(*[(n, 1, True) for n in done], (running, 1, False))
    children = ready_children(dataset, **{"Job/test-driver": {"kind": "Job", "status": {}}})
    current = Status(phase=Phase.EXECUTING if method == "selfcodealign" else Phase.GENERATING)
    plan = run(dataset, current, children=children, ledger=view, stage_names=names)
    assert plan.status.phase is phase


def test_wavecoder_does_not_wait_for_a_sandbox() -> None:
    """Audit #19: no execute stage, so no sandbox and no RuntimeClass needed."""
    dataset = cluster_dataset(method="wavecoder", generator={"backend": "vllm", "model": "m"})
    names = stage_names(dataset.spec) or []
    name = dataset.metadata.name
    children = {f"Deployment/{name}-vllm": available(f"{name}-vllm")}
    plan = run(dataset, children=children, stage_names=names, runtime_class_exists=False)
    assert not any(m["metadata"]["name"].endswith("-sandbox") for m in plan.apply)
    assert plan.status.phase is Phase.GENERATING


def test_local_output_uri_is_invalid_in_the_cluster() -> None:
    """Audit #15: `./codeinstruct-out` can never be observed from the operator's pod."""
    dataset = cluster_dataset(generator={"backend": "vllm", "model": "m"}, output={"uri": "./out"})
    plan = run(dataset, children=ready_children(dataset))
    assert plan.status.phase is Phase.FAILED and plan.status.reason == "InvalidSpec"
    assert "output.uri" in (plan.status.message or "")


def waiting_pod(component: str, reason: str, restarts: int = 0) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"test-{component}-abc",
            "labels": {
                "codeinstruct.dev/dataset": "test",
                "app.kubernetes.io/component": component,
            },
        },
        "status": {
            "phase": "Pending" if reason != "CrashLoopBackOff" else "Running",
            "containerStatuses": [
                {
                    "name": component,
                    "restartCount": restarts,
                    "state": {"waiting": {"reason": reason, "message": f"{reason} detail"}},
                }
            ],
        },
    }


@pytest.mark.parametrize(
    ("component", "reason", "restarts"),
    [
        ("vllm", "ImagePullBackOff", 0),
        ("vllm", "CrashLoopBackOff", 5),
        ("sandbox", "CreateContainerConfigError", 0),
        ("driver", "CreateContainerConfigError", 0),
    ],
)
def test_stuck_pods_become_conditions_then_fail(component: str, reason: str, restarts: int) -> None:
    """Audit #5: any stuck pod is a condition with that reason, then fails after the grace."""
    dataset = vllm_dataset()
    children = ready_children(dataset)
    if component == "driver":
        children["Job/test-driver"] = {"kind": "Job", "status": {"active": 1}}
    else:
        children.pop(f"Deployment/test-{component}")
    pod = waiting_pod(component, reason, restarts)
    plan = run(dataset, Status(phase=Phase.GENERATING), children=children, pods=[pod])
    reasons = {c.reason for c in plan.status.conditions if c.status != "True"}
    assert reason in reasons, plan.status.conditions
    later = run(dataset, plan.status, children=children, pods=[pod], now=NOW + timedelta(hours=1))
    assert later.status.phase is Phase.FAILED and later.status.reason == reason


def test_failed_create_on_a_deployment_is_reported() -> None:
    """PSA refusals show as ReplicaFailure=True FailedCreate on the Deployment (audit #4)."""
    dataset = vllm_dataset()
    children = ready_children(dataset)
    children["Deployment/test-vllm"] = {
        "kind": "Deployment",
        "metadata": {"name": "test-vllm"},
        "status": {
            "conditions": [
                {
                    "type": "ReplicaFailure",
                    "status": "True",
                    "reason": "FailedCreate",
                    "message": 'pods "test-vllm-x" is forbidden: violates PodSecurity',
                }
            ]
        },
    }
    plan = run(dataset, children=children)
    generator = conditions(plan)["GeneratorReady"]
    assert generator.status == "False" and generator.reason == "FailedCreate"
    assert "PodSecurity" in generator.message


def test_invalid_spec_goes_through_the_failure_path() -> None:
    """Audit #8: InvalidSpec sets Failed (not only the phase), Ready False, observedGeneration."""
    from codeinstruct.operator.reconcile import invalid_spec

    running = Status(phase=Phase.GENERATING, observed_generation=1)
    plan = invalid_spec(running, "spec.generator.model: required", 2, NOW)
    cond = conditions(plan)
    assert plan.status.phase is Phase.FAILED and plan.status.reason == "InvalidSpec"
    assert cond["Failed"].status == "True" and cond["Ready"].status == "False"
    assert cond["Failed"].observed_generation == 2 and plan.status.observed_generation == 2
    assert [e.type for e in plan.events] == ["Warning"]


def test_a_runtime_class_that_is_not_gvisor_is_refused() -> None:
    """Audit #10: a `gvisor` RuntimeClass whose handler is runc would run generated code
    without a sandbox; the sandbox is never deployed on it."""
    dataset = vllm_dataset()
    plan = run(dataset, children=ready_children(dataset), runtime_class_handler="runc")
    sandbox_ready = conditions(plan)["SandboxReady"]
    assert sandbox_ready.status == "False" and sandbox_ready.reason == "RuntimeClassNotGVisor"
    assert not any(m["kind"] == "Job" for m in plan.apply)
    assert not any(m["metadata"]["name"] == "test-sandbox" for m in plan.apply)
    ok = run(dataset, children=ready_children(dataset), runtime_class_handler="runsc")
    assert conditions(ok)["SandboxReady"].status == "True"
