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
from codeinstruct.operator.constants import (
    LABEL_COMPONENT,
    LABEL_DATASET,
    ConditionType,
    Phase,
    Reason,
)
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
        if target.settings.vllm_pdb:
            out["vllm-pdb"] = vllm.disruption_budget(target)
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
    """One level-based step: what to apply or delete, which events to post, the new status."""
    return _Tick(dataset, namespace, current, observed, settings).run()


class _Tick:
    """The state of one reconcile step; each method handles one situation."""

    def __init__(
        self,
        dataset: InstructionDataset,
        namespace: str,
        current: Status,
        observed: Observed,
        settings: Settings,
    ) -> None:
        self.spec = dataset.spec
        self.current = current
        self.observed = observed
        self.settings = settings
        self.now = timestamp(observed.now)
        self.target = Target(dataset, namespace, settings, suspended=self.spec.suspend)
        boundary = scoring_boundary(observed.stage_names)
        self.wanted = children(self.target, boundary, observed.rayjob_available)
        self.plan = Plan(status=current.model_copy(deep=True))
        self.status = self.plan.status
        self.status.target = self.spec.target_size

    def run(self) -> Plan:
        if self.current.phase.is_terminal():
            if needs_rerun(self.current, self.observed.generation, self.target.signature):
                return self.rerun()
            self.status.observed_generation = self.observed.generation
            return self.release_servers()
        self.status.signature = self.target.signature
        self.status.observed_generation = self.observed.generation
        missing = self.check_dependencies()
        failure = _unschedulable_too_long(self.status, self.settings, self.observed.now)
        if failure:
            return self.fail(Reason.UNSCHEDULABLE, failure)
        if self.spec.suspend:
            return self.suspend()
        return self.advance(missing)

    # -- conditions -------------------------------------------------------------------------

    def condition(self, kind: ConditionType, ok: bool | None, reason: Reason, message: str) -> None:
        """Set a condition; a Warning event when it turns False (or changes its reason)."""
        before = self.status.condition(kind)
        self.status.conditions = set_condition(
            self.status.conditions, kind, ok, reason, message, self.now, self.observed.generation
        )
        changed = before is None or (before.status, before.reason) != ("False", reason.value)
        if ok is False and changed:
            self.plan.events.append(Event("Warning", reason.value, f"{kind.value}: {message}"))

    def check_dependencies(self) -> list[str]:
        """Storage, generator and sandbox conditions (applying the servers); what is missing."""
        ledger = self.observed.ledger
        if ledger is None:
            detail = self.observed.storage_error or "unknown error"
            self.condition(ConditionType.STORAGE_READY, False, Reason.STORAGE_UNREACHABLE, detail)
        else:
            self.condition(
                ConditionType.STORAGE_READY, True, Reason.STORAGE_REACHABLE, "ledger readable"
            )
            _progress(self.status, ledger, self.observed.stage_names, self.observed.now)
        self.plan.apply.append(self.wanted["spec"])
        generator_ok = self.server("vllm", ConditionType.GENERATOR_READY)
        if sandbox.wanted(self.target) and not self.observed.runtime_class_exists:
            message = (
                f"RuntimeClass {self.settings.runtime_class!r} does not exist; install gVisor "
                "and its RuntimeClass (the sandbox never runs without it)"
            )
            self.condition(
                ConditionType.SANDBOX_READY, False, Reason.RUNTIME_CLASS_MISSING, message
            )
            sandbox_ok = False
        else:
            sandbox_ok = self.server("sandbox", ConditionType.SANDBOX_READY)
        checks = (("generator", generator_ok), ("sandbox", sandbox_ok), ("storage", bool(ledger)))
        missing = [name for name, ok in checks if not ok]
        if missing:
            message = "waiting for " + ", ".join(missing)
            self.condition(ConditionType.READY, False, Reason.WAITING, message)
        else:
            message = "generator, sandbox and storage are ready"
            self.condition(ConditionType.READY, True, Reason.ALL_READY, message)
        return missing

    def server(self, role: str, kind: ConditionType) -> bool:
        """Apply a server Deployment (+ Service, policy) and say whether it is available."""
        if role not in self.wanted:
            reason = Reason.EXTERNAL_ENDPOINT if role == "vllm" else Reason.NOT_NEEDED
            self.condition(
                kind, True, reason, "the spec names an endpoint or runs it in the driver"
            )
            return True
        if self.servers_done():
            self.condition(kind, True, Reason.NOT_NEEDED, "released: the driver is done")
            return True
        for name, manifest in self.wanted.items():
            if name == role or name.startswith(role + "-"):
                self.plan.apply.append(manifest)
        deployment = self.wanted[role]
        name = deployment["metadata"]["name"]
        if observed_available(self.observed.children.get(key(deployment))):
            self.condition(kind, True, Reason.AVAILABLE, f"{name} is available")
            return True
        unschedulable = _unschedulable(self.observed.pods, deployment["metadata"]["labels"])
        if unschedulable:
            self.condition(kind, False, Reason.UNSCHEDULABLE, unschedulable)
        else:
            self.condition(kind, None, Reason.DEPLOYING, f"waiting for {name}")
        return False

    def servers_done(self) -> bool:
        """The driver completed and a scoring child follows: vLLM and the sandbox can go."""
        driver_job = self.observed.children.get(key(self.wanted["driver"]))
        return "scoring" in self.wanted and _job_state(driver_job)[0] == "complete"

    # -- phases -----------------------------------------------------------------------------

    def transition(self, phase: Phase, reason: Reason, message: str) -> None:
        if self.status.phase is not phase:
            kind = "Warning" if phase is Phase.FAILED else "Normal"
            text = f"{self.status.phase.value} -> {phase.value}: {message}"
            self.plan.events.append(Event(kind, reason.value, text))
            self.status.phase = phase

    def rerun(self) -> Plan:
        for role in ("driver", "scoring"):
            manifest = self.wanted.get(role)
            if manifest and key(manifest) in self.observed.children:
                self.plan.delete.append(_ref(manifest))
        self.status.start_time = self.status.completion_time = None
        self.status.reason = self.status.message = None
        self.transition(Phase.PENDING, Reason.RESUMED, "the spec changed: running again")
        self.status.observed_generation = self.observed.generation
        return self.plan

    def suspend(self) -> Plan:
        for role in ("driver", "scoring"):
            manifest = self.wanted.get(role)
            if manifest and key(manifest) in self.observed.children:
                self.plan.apply.append(manifest)
        self.status.reason, self.status.message = Reason.SUSPENDED.value, "spec.suspend is true"
        self.transition(Phase.SUSPENDED, Reason.SUSPENDED, "children scaled to zero")
        return self.plan

    def advance(self, missing: list[str]) -> Plan:
        driver_manifest = self.wanted["driver"]
        driver_job = self.observed.children.get(key(driver_manifest))
        driver_state, driver_message = _job_state(driver_job)
        scoring_manifest = self.wanted.get("scoring")
        scoring_job = (
            self.observed.children.get(key(scoring_manifest)) if scoring_manifest else None
        )
        scoring_state, scoring_message = _job_state(scoring_job)
        if driver_state == "failed":
            return self.fail(Reason.DRIVER_FAILED, f"driver Job failed: {driver_message}")
        if scoring_state == "failed":
            return self.fail(Reason.SCORING_FAILED, f"scoring failed: {scoring_message}")
        if driver_job is None:
            return self.start_driver(missing)
        self.plan.apply.append(driver_manifest)  # keeps it adopted, un-suspended after a resume
        self.status.start_time = self.status.start_time or self.now
        done = driver_state == "complete"
        phase = _ledger_phase(self.status.stages)
        if scoring_manifest is not None and done:
            self.plan.apply.append(scoring_manifest)
            self.release_servers()  # the driver is done: no GPU held through CPU-only scoring
            done, phase = scoring_state == "complete", Phase.SCORING
        ledger = self.observed.ledger
        if done and ledger is not None and ledger.exported:
            return self.succeed()
        message = _phase_message(phase, self.status)
        if done:
            message = "run finished; waiting for the dataset card in storage"
        self.status.reason, self.status.message = Reason.PHASE_CHANGED.value, message
        self.transition(phase, Reason.PHASE_CHANGED, message)
        return self.plan

    def start_driver(self, missing: list[str]) -> Plan:
        if missing:
            self.status.reason = Reason.WAITING.value
            self.status.message = "waiting for " + ", ".join(missing)
            self.transition(Phase.PENDING, Reason.RESUMED, "resumed")
            return self.plan
        self.plan.apply.append(self.wanted["driver"])
        self.status.start_time = self.status.start_time or self.now
        self.status.reason, self.status.message = Reason.CREATED.value, "driver Job created"
        self.transition(Phase.GENERATING, Reason.CREATED, "driver Job created")
        return self.plan

    def succeed(self) -> Plan:
        status = self.status
        status.completion_time = self.now
        status.progress_percentage, status.estimated_remaining_seconds = 100, 0
        message = f"dataset written to {status.output_uri}"
        status.reason, status.message = Reason.SUCCEEDED.value, message
        self.condition(ConditionType.COMPLETE, True, Reason.SUCCEEDED, message)
        self.transition(Phase.SUCCEEDED, Reason.SUCCEEDED, message)
        return self.release_servers()

    def fail(self, reason: Reason, message: str) -> Plan:
        status = self.status
        status.reason, status.message, status.completion_time = reason.value, message, self.now
        status.conditions = set_condition(
            status.conditions,
            ConditionType.FAILED,
            True,
            reason,
            message,
            self.now,
            self.observed.generation,
        )
        self.transition(Phase.FAILED, reason, message)
        return self.release_servers()

    def release_servers(self) -> Plan:
        """A finished run frees its GPUs and sandbox pods; Jobs stay for their logs."""
        self.plan.apply = [m for m in self.plan.apply if m["kind"] != "Deployment"]
        for role in ("vllm", "sandbox"):
            manifest = self.wanted.get(role)
            if manifest and key(manifest) in self.observed.children:
                self.plan.delete.append(_ref(manifest))
        return self.plan


def _ref(manifest: dict[str, Any]) -> tuple[str, str, str]:
    return manifest["apiVersion"], manifest["kind"], manifest["metadata"]["name"]


def needs_rerun(current: Status, generation: int, signature: str) -> bool:
    """A finished run starts again when its spec changed: a failed run on any change (a fix),
    a succeeded one only when the change alters the output (a new run signature)."""
    if not current.phase.is_terminal() or (current.observed_generation or 0) >= generation:
        return False
    return current.phase is Phase.FAILED or current.signature != signature


def _phase_message(phase: Phase, status: Status) -> str:
    running = next((s.name for s in status.stages if not s.complete), None)
    return f"{phase.value}" + (f" (stage {running})" if running else "")


def observed_available(deployment: dict[str, Any] | None) -> bool:
    if not deployment:
        return False
    return int((deployment.get("status") or {}).get("availableReplicas") or 0) > 0


def _unschedulable(pods: list[dict[str, Any]], labels: dict[str, str]) -> str | None:
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
