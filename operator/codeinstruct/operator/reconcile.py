"""Pure reconcile: (dataset, status, observed children, ledger) -> actions + events + status.

Level-based: every tick recomputes what should exist from what is observed, moves the phase at
most one step, and never waits; an operator restart at any moment resumes where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from codeinstruct.operator.builders import driver, sandbox, scoring, vllm
from codeinstruct.operator.builders.meta import Target
from codeinstruct.operator.constants import ConditionType, Phase, Reason
from codeinstruct.operator.ledger_view import LedgerView
from codeinstruct.operator.settings import Settings
from codeinstruct.operator.stages import scoring_boundary, stage_phase
from codeinstruct.operator.status import StageProgress, Status, set_condition
from codeinstruct.workers.spec import InstructionDataset


@dataclass
class Observed:
    """What the cluster and the storage look like now (gathered by kube.py / ledger_view.py)."""

    children: dict[str, dict[str, Any]]  # "Kind/name" -> object, for children that exist
    pods: list[dict[str, Any]] = field(default_factory=list)  # this dataset's pods
    runtime_class_exists: bool = True
    rayjob_available: bool = False
    ledger: LedgerView | None = None
    storage_error: str | None = None
    stage_names: list[str] | None = None
    generation: int = 1
    now: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass
class Plan:
    apply: list[dict[str, Any]] = field(default_factory=list)
    delete: list[tuple[str, str, str]] = field(default_factory=list)  # (apiVersion, kind, name)
    events: list[Event] = field(default_factory=list)
    status: Status = field(default_factory=Status)


def key(manifest: dict[str, Any]) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


def timestamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def children(target: Target, boundary: str | None, rayjob: bool) -> dict[str, dict[str, Any]]:
    """Every child the dataset can own, by role (`render` prints all of them)."""
    out: dict[str, dict[str, Any]] = {"spec": driver.config_map(target)}
    if vllm.wanted(target):
        out["vllm"] = vllm.deployment(target)
        out["vllm-service"] = vllm.service(target)
    if sandbox.wanted(target):
        out["sandbox"] = sandbox.deployment(target)
        out["sandbox-service"] = sandbox.service(target)
        out["sandbox-policy"] = sandbox.network_policy(target)
    out["driver"] = driver.job(target, until=boundary)
    if scoring.wanted(target, boundary):
        out["scoring"] = scoring.manifest(target, rayjob)
    return out


def reconcile(
    dataset: InstructionDataset,
    namespace: str,
    current: Status,
    observed: Observed,
    settings: Settings,
) -> Plan:
    spec = dataset.spec
    now = timestamp(observed.now)
    gen = observed.generation
    target = Target(dataset, namespace, settings, suspended=spec.suspend)
    boundary = scoring_boundary(observed.stage_names)
    wanted = children(target, boundary, observed.rayjob_available)
    status = current.model_copy(deep=True)
    status.target = spec.target_size
    plan = Plan(status=status)

    def condition(kind: ConditionType, ok: bool | None, reason: Reason, message: str) -> None:
        before = status.condition(kind)
        status.conditions = set_condition(status.conditions, kind, ok, reason, message, now, gen)
        flipped = before is None or before.status != status.condition(kind).status  # type: ignore[union-attr]
        if ok is False and (flipped or (before is not None and before.reason != reason.value)):
            plan.events.append(Event("Warning", reason.value, f"{kind.value}: {message}"))

    restart = needs_rerun(current, gen, target.signature)
    if current.phase.is_terminal() and not restart:
        status.observed_generation = gen
        _release_servers(plan, wanted, observed)
        return plan
    if restart:
        for role in ("driver", "scoring"):
            if role in wanted and key(wanted[role]) in observed.children:
                manifest = wanted[role]
                plan.delete.append(
                    (manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"])
                )
        status.start_time = status.completion_time = None
        status.reason = status.message = None
        _transition(plan, Phase.PENDING, Reason.RESUMED, "the spec changed: running again")
        status.observed_generation = gen
        return plan

    status.signature = target.signature
    status.observed_generation = gen

    # Storage: the ledger is the source of progress.
    if observed.ledger is None:
        detail = observed.storage_error or "unknown error"
        condition(ConditionType.STORAGE_READY, False, Reason.STORAGE_UNREACHABLE, detail)
    else:
        condition(ConditionType.STORAGE_READY, True, Reason.STORAGE_REACHABLE, "ledger readable")
        _progress(status, observed.ledger, observed.stage_names, observed.now)

    # Servers: vLLM and the sandbox.
    plan.apply.append(wanted["spec"])
    generator_ok = _server(
        plan, wanted, observed, "vllm", ConditionType.GENERATOR_READY, condition, settings, now
    )
    if sandbox.wanted(target) and not observed.runtime_class_exists:
        condition(
            ConditionType.SANDBOX_READY,
            False,
            Reason.RUNTIME_CLASS_MISSING,
            f"RuntimeClass {settings.runtime_class!r} does not exist; install gVisor and its "
            "RuntimeClass (the sandbox never runs without it)",
        )
        sandbox_ok = False
    else:
        sandbox_ok = _server(
            plan, wanted, observed, "sandbox", ConditionType.SANDBOX_READY, condition, settings, now
        )
    storage_ok = observed.ledger is not None
    ready = generator_ok and sandbox_ok and storage_ok
    missing = [
        name
        for name, ok in (
            ("generator", generator_ok),
            ("sandbox", sandbox_ok),
            ("storage", storage_ok),
        )
        if not ok
    ]
    condition(
        ConditionType.READY,
        ready,
        Reason.ALL_READY if ready else Reason.WAITING,
        "generator, sandbox and storage are ready"
        if ready
        else "waiting for " + ", ".join(missing),
    )

    failure = _unschedulable_too_long(status, settings, observed.now)
    if failure:
        return _fail(plan, wanted, observed, Reason.UNSCHEDULABLE, failure, now)

    if spec.suspend:
        for role in ("driver", "scoring"):
            if role in wanted and key(wanted[role]) in observed.children:
                plan.apply.append(wanted[role])
        if current.phase is not Phase.SUSPENDED:
            _transition(plan, Phase.SUSPENDED, Reason.SUSPENDED, "children scaled to zero")
        return plan

    driver_job = observed.children.get(key(wanted["driver"]))
    driver_state = _job_state(driver_job)
    scoring_manifest = wanted.get("scoring")
    scoring_obj = observed.children.get(key(scoring_manifest)) if scoring_manifest else None
    scoring_state = _job_state(scoring_obj)

    if driver_state[0] == "failed":
        return _fail(
            plan,
            wanted,
            observed,
            Reason.DRIVER_FAILED,
            f"driver Job failed: {driver_state[1]}",
            now,
        )
    if scoring_state[0] == "failed":
        return _fail(
            plan,
            wanted,
            observed,
            Reason.SCORING_FAILED,
            f"scoring failed: {scoring_state[1]}",
            now,
        )

    if driver_job is None:
        if not ready:
            status.reason, status.message = (
                Reason.WAITING.value,
                "waiting for " + ", ".join(missing),
            )
            if current.phase is Phase.SUSPENDED:
                _transition(plan, Phase.PENDING, Reason.RESUMED, "resumed")
            return plan
        plan.apply.append(wanted["driver"])
        status.start_time = status.start_time or now
        status.reason, status.message = Reason.CREATED.value, "driver Job created"
        if current.phase is not Phase.GENERATING:
            _transition(plan, Phase.GENERATING, Reason.CREATED, "driver Job created")
        return plan
    plan.apply.append(wanted["driver"])  # keeps it adopted and un-suspended after a resume
    status.start_time = status.start_time or now

    final_done = driver_state[0] == "complete"
    if scoring_manifest is not None and final_done:
        plan.apply.append(scoring_manifest)
        final_done = scoring_state[0] == "complete"
        phase = Phase.SCORING
    else:
        phase = _ledger_phase(status.stages)
    if final_done and observed.ledger is not None and observed.ledger.exported:
        status.completion_time = now
        status.progress_percentage = 100
        status.estimated_remaining_seconds = 0
        status.reason, status.message = (
            Reason.SUCCEEDED.value,
            f"dataset written to {status.output_uri}",
        )
        condition(ConditionType.COMPLETE, True, Reason.SUCCEEDED, status.message)
        _transition(plan, Phase.SUCCEEDED, Reason.SUCCEEDED, status.message)
        _release_servers(plan, wanted, observed)
        return plan
    if final_done:
        status.message = "run finished; waiting for the dataset card in storage"
    if phase is not current.phase:
        _transition(plan, phase, Reason.PHASE_CHANGED, _phase_message(phase, status))
    status.reason = Reason.PHASE_CHANGED.value
    return plan


def needs_rerun(current: Status, generation: int, signature: str) -> bool:
    """A finished run starts again when its spec changed: a failed run on any change (a fix),
    a succeeded one only when the change alters the output (a new run signature)."""
    if not current.phase.is_terminal() or (current.observed_generation or 0) >= generation:
        return False
    return current.phase is Phase.FAILED or current.signature != signature


def _phase_message(phase: Phase, status: Status) -> str:
    running = next((s.name for s in status.stages if not s.complete), None)
    return f"{phase.value}" + (f" (stage {running})" if running else "")


def _transition(plan: Plan, phase: Phase, reason: Reason, message: str) -> None:
    if plan.status.phase is not phase:
        kind = "Warning" if phase is Phase.FAILED else "Normal"
        plan.events.append(
            Event(kind, reason.value, f"{plan.status.phase.value} -> {phase.value}: {message}")
        )
        plan.status.phase = phase


def _fail(
    plan: Plan,
    wanted: dict[str, dict[str, Any]],
    observed: Observed,
    reason: Reason,
    message: str,
    now: str,
) -> Plan:
    status = plan.status
    status.reason, status.message, status.completion_time = reason.value, message, now
    status.conditions = set_condition(
        status.conditions, ConditionType.FAILED, True, reason, message, now, observed.generation
    )
    _transition(plan, Phase.FAILED, reason, message)
    _release_servers(plan, wanted, observed)
    return plan


def _release_servers(plan: Plan, wanted: dict[str, dict[str, Any]], observed: Observed) -> None:
    """A finished run frees its GPUs and sandbox pods; Jobs stay for their logs."""
    plan.apply = [m for m in plan.apply if m["kind"] != "Deployment"]
    for role in ("vllm", "sandbox"):
        manifest = wanted.get(role)
        if manifest and key(manifest) in observed.children:
            plan.delete.append(
                (manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"])
            )


def _server(
    plan: Plan,
    wanted: dict[str, dict[str, Any]],
    observed: Observed,
    role: str,
    kind: ConditionType,
    condition: Any,
    settings: Settings,
    now: str,
) -> bool:
    """Apply a server Deployment (+ Service, policy) and say whether it is ready."""
    if role not in wanted:
        reason = Reason.EXTERNAL_ENDPOINT if role == "vllm" else Reason.NOT_NEEDED
        what = "the spec names an endpoint or runs it in the driver"
        condition(kind, True, reason, what)
        return True
    for name, manifest in wanted.items():
        if name == role or name.startswith(role + "-"):
            plan.apply.append(manifest)
    deployment = observed.children.get(key(wanted[role]))
    if observed_available(deployment):
        condition(kind, True, Reason.AVAILABLE, f"{wanted[role]['metadata']['name']} is available")
        return True
    component = wanted[role]["metadata"]["labels"]
    unschedulable = _unschedulable(observed.pods, component)
    if unschedulable:
        condition(kind, False, Reason.UNSCHEDULABLE, unschedulable)
    else:
        condition(kind, None, Reason.DEPLOYING, f"waiting for {wanted[role]['metadata']['name']}")
    return False


def observed_available(deployment: dict[str, Any] | None) -> bool:
    if not deployment:
        return False
    return int((deployment.get("status") or {}).get("availableReplicas") or 0) > 0


def _unschedulable(pods: list[dict[str, Any]], labels: dict[str, str]) -> str | None:
    from codeinstruct.operator.constants import LABEL_COMPONENT, LABEL_DATASET

    for pod in pods:
        pod_labels = pod.get("metadata", {}).get("labels", {})
        if any(pod_labels.get(k) != labels[k] for k in (LABEL_DATASET, LABEL_COMPONENT)):
            continue
        for cond in (pod.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                name = pod["metadata"]["name"]
                return f"pod {name} is unschedulable: {cond.get('message', '')}".strip()
    return None


def _unschedulable_too_long(status: Status, settings: Settings, now: datetime) -> str | None:
    for kind in (ConditionType.GENERATOR_READY, ConditionType.SANDBOX_READY):
        cond = status.condition(kind)
        if cond and cond.reason == Reason.UNSCHEDULABLE.value and cond.last_transition_time:
            since = datetime.strptime(cond.last_transition_time, "%Y-%m-%dT%H:%M:%SZ")
            waited = (now - since.replace(tzinfo=UTC)).total_seconds()
            if waited > settings.unschedulable_grace_seconds:
                return f"{cond.message} (for {int(waited)} s)"
    return None


def _job_state(job: dict[str, Any] | None) -> tuple[str, str]:
    """("missing"|"running"|"complete"|"failed", message) for a batch Job or a RayJob."""
    if job is None:
        return "missing", ""
    state = job.get("status") or {}
    for cond in state.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") in {"Complete", "SuccessCriteriaMet"}:
            return "complete", ""
        if cond.get("type") == "Failed":
            detail = cond.get("message") or cond.get("reason") or "no message"
            return "failed", f"{cond.get('reason', 'Failed')}: {detail}"
    if job.get("kind") == "RayJob":
        if state.get("jobDeploymentStatus") == "Complete" and state.get("jobStatus") == "SUCCEEDED":
            return "complete", ""
        if state.get("jobDeploymentStatus") == "Failed" or state.get("jobStatus") == "FAILED":
            return "failed", state.get("message") or state.get("reason") or "RayJob failed"
    return "running", ""


def _ledger_phase(stages: list[StageProgress]) -> Phase:
    active = [s for s in stages if s.shards or s.complete]
    if not active:
        return Phase.GENERATING
    latest = next((s for s in active if not s.complete), active[-1])
    return stage_phase(latest.name)


def _progress(status: Status, view: LedgerView, names: list[str] | None, now: datetime) -> None:
    status.stages = view.stages
    status.output_uri = view.output_uri
    total = len(names) if names else max(len(view.stages), 1)
    done = sum(1 for s in view.stages if s.complete)
    partial = 0.0
    for previous, stage in zip(view.stages, view.stages[1:], strict=False):
        if previous.complete and not stage.complete and previous.shards:
            partial = min(stage.shards / previous.shards, 0.99)
            break
    ratio = min((done + partial) / total, 1.0)
    status.progress = f"{done}/{total}"
    status.progress_percentage = int(ratio * 100)
    finished = [s for s in view.stages if s.complete]
    status.selected = finished[-1].records_out if finished else 0
    status.selection = f"{status.selected}/{status.target}"
    status.estimated_remaining_seconds = None
    if status.start_time and 0 < ratio < 1:
        started = datetime.strptime(status.start_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        elapsed = max((now - started).total_seconds(), 0.0)
        status.estimated_remaining_seconds = int(elapsed * (1 - ratio) / ratio)
