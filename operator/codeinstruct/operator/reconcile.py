"""Pure reconcile: (dataset, status, observed children, ledger) -> actions + events + status.

Level-based: every tick recomputes what should exist from what is observed, moves the phase at
most one step, and never waits; an operator restart at any moment resumes where it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from codeinstruct.operator.builders import sandbox
from codeinstruct.operator.builders.desired import desired_children
from codeinstruct.operator.builders.meta import Target
from codeinstruct.operator.constants import (
    ANNOTATION_SIGNATURE,
    ConditionType,
    Phase,
    Reason,
)
from codeinstruct.operator.ledger_view import LedgerView
from codeinstruct.operator.observed import (
    Problem,
    deployment_problem,
    job_state,
    observed_available,
    pod_problem,
)
from codeinstruct.operator.progress import driver_phase, final_stage_complete, update_progress
from codeinstruct.operator.secret_refs import (
    missing_message,
    missing_secrets,
    refused_message,
    refused_secrets,
    secret_refs,
)
from codeinstruct.operator.settings import Settings
from codeinstruct.operator.status import Status, set_condition
from codeinstruct.workers.spec import InstructionDataset, Spec

# Conditions whose False reason, held past a grace period, fails the run.
_HEALTH = (
    ConditionType.GENERATOR_READY,
    ConditionType.SANDBOX_READY,
    ConditionType.WORKLOAD_HEALTHY,
)
_NOT_STUCK = {Reason.RUNTIME_CLASS_MISSING.value, Reason.RUNTIME_CLASS_NOT_GVISOR.value}


@dataclass
class Observed:
    """What the cluster and the storage look like now (gathered by kube.py / ledger_view.py)."""

    children: dict[str, dict[str, Any]]  # "Kind/name" -> object, for children that exist
    pods: list[dict[str, Any]] = field(default_factory=list)  # this dataset's pods
    runtime_class_exists: bool = True
    runtime_class_handler: str | None = "runsc"
    rayjob_available: bool = False
    ledger: LedgerView | None = None
    storage_error: str | None = None
    # Labels of each Secret the spec names (None: it does not exist); a name not here is
    # treated as missing.
    secrets: dict[str, dict[str, str] | None] = field(default_factory=dict)
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


def cluster_spec_problem(spec: Spec) -> str | None:
    """What a spec valid for a local run cannot do in the cluster (no pod shares a disk)."""
    if not spec.output.uri.startswith("s3://"):
        return (
            f"spec.output.uri {spec.output.uri!r}: in the cluster the dataset must go to object "
            "storage; use s3://bucket/prefix"
        )
    if spec.source.uri != "stdlib" and not spec.source.uri.startswith(("s3://", "stdlib/")):
        return (
            f"spec.source.uri {spec.source.uri!r}: in the cluster the source must be `stdlib` "
            "or s3://bucket/prefix"
        )
    return None


def reconcile(
    dataset: InstructionDataset,
    namespace: str,
    current: Status,
    observed: Observed,
    settings: Settings,
) -> Plan:
    """One level-based step: what to apply or delete, which events to post, the new status."""
    return _Tick(dataset, namespace, current, observed, settings).run()


def invalid_spec(current: Status, message: str, generation: int, now: datetime) -> Plan:
    """A spec the API server accepted but the operator cannot run: the failure path."""
    plan = Plan(status=current.model_copy(deep=True))
    tick = _Failure(plan, timestamp(now), generation)
    tick.fail(Reason.INVALID_SPEC, message)
    plan.status.observed_generation = generation
    return plan


class _Failure:
    """Conditions, phase transitions and failure, shared by a tick and an invalid spec."""

    def __init__(self, plan: Plan, now: str, generation: int) -> None:
        self.plan = plan
        self.status = plan.status
        self.now = now
        self.generation = generation

    def condition(
        self,
        kind: ConditionType,
        ok: bool | None,
        reason: str,
        message: str,
        event: str | None = "Warning",
    ) -> None:
        """Set a condition; an event (Warning unless told) when it turns False or changes its
        reason while False."""
        before = self.status.condition(kind)
        self.status.conditions = set_condition(
            self.status.conditions, kind, ok, reason, message, self.now, self.generation
        )
        changed = before is None or (before.status, before.reason) != ("False", str(reason))
        if ok is False and changed and event:
            self.plan.events.append(Event(event, str(reason), f"{kind.value}: {message}"))

    def transition(self, phase: Phase, reason: str, message: str) -> None:
        if self.status.phase is not phase:
            kind = "Warning" if phase is Phase.FAILED else "Normal"
            text = f"{self.status.phase.value} -> {phase.value}: {message}"
            self.plan.events.append(Event(kind, str(reason), text))
            self.status.phase = phase

    def fail(self, reason: str, message: str) -> Plan:
        status = self.status
        status.reason, status.message, status.completion_time = str(reason), message, self.now
        self.condition(ConditionType.FAILED, True, reason, message, event=None)
        self.condition(ConditionType.COMPLETE, False, reason, "the run failed", event=None)
        self.condition(ConditionType.READY, False, reason, message, event=None)
        self.transition(Phase.FAILED, reason, message)
        return self.plan


class _Tick(_Failure):
    """The state of one reconcile step; each method handles one situation."""

    def __init__(
        self,
        dataset: InstructionDataset,
        namespace: str,
        current: Status,
        observed: Observed,
        settings: Settings,
    ) -> None:
        super().__init__(
            Plan(status=current.model_copy(deep=True)), timestamp(observed.now), observed.generation
        )
        self.spec = dataset.spec
        self.current = current
        self.observed = observed
        self.settings = settings
        self.target = Target(dataset, namespace, settings, suspended=self.spec.suspend)
        self.wanted = desired_children(self.target, observed.rayjob_available)
        self.status.target = self.spec.target_size

    def run(self) -> Plan:
        refs = secret_refs(self.spec)
        refused = refused_secrets(refs, self.observed.secrets)
        if self.current.phase.is_terminal():
            if needs_rerun(self.current, self.observed.generation, self.target.signature):
                return self.rerun(Reason.RESUMED, "the spec changed: running again")
            if self.current.reason == Reason.SECRET_NOT_ALLOWED.value and not refused:
                return self.rerun(Reason.RESUMED, "its Secrets are now labelled: running again")
            self.status.observed_generation = self.observed.generation
            self.terminal_ready()
            return self.release_servers()
        edited = self.observed.generation > (self.current.observed_generation or 0)
        self.status.observed_generation = self.observed.generation
        problem = cluster_spec_problem(self.spec)
        if problem:
            return self.fail(Reason.INVALID_SPEC, problem)
        if refused:
            return self.fail(
                Reason.SECRET_NOT_ALLOWED, refused_message(refused, self.target.namespace)
            )
        missing_refs = missing_secrets(refs, self.observed.secrets)
        if missing_refs:
            return self.wait_for_secrets(missing_message(missing_refs))
        pinned = self.pinned_signature()
        if pinned and pinned != self.target.signature:
            if edited:
                message = "the spec changed during the run: restarting it with the new spec"
                return self.rerun(Reason.SPEC_CHANGED, message)
            # Same spec, another signature: a new operator. The running Job keeps its own.
            self.status.signature = pinned
        else:
            self.status.signature = self.target.signature
        missing = self.check_dependencies()
        self.check_workload()
        stuck = self.stuck_too_long()
        if stuck:
            return self.fail(*stuck)
        if self.spec.suspend:
            return self.suspend()
        return self.advance(missing)

    def pinned_signature(self) -> str | None:
        """The signature the existing driver Job was created with."""
        job = self.observed.children.get(key(self.wanted["driver"]))
        annotations = ((job or {}).get("metadata") or {}).get("annotations") or {}
        return annotations.get(ANNOTATION_SIGNATURE)

    # -- conditions -------------------------------------------------------------------------

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
            update_progress(self.status, ledger, self.target.stages, self.observed.now)
        self.plan.apply.append(self.wanted["spec"])
        generator_ok = self.server("vllm", ConditionType.GENERATOR_READY)
        sandbox_ok = self.sandbox_server()
        checks = (("generator", generator_ok), ("sandbox", sandbox_ok), ("storage", bool(ledger)))
        missing = [name for name, ok in checks if not ok]
        if missing:
            message = "waiting for " + ", ".join(missing)
            self.condition(ConditionType.READY, False, Reason.WAITING, message, event="Normal")
        else:
            message = "generator, sandbox and storage are ready"
            self.condition(ConditionType.READY, True, Reason.ALL_READY, message)
        return missing

    def sandbox_server(self) -> bool:
        if not sandbox.wanted(self.target):
            return self.server("sandbox", ConditionType.SANDBOX_READY)
        name = self.settings.runtime_class
        if not self.observed.runtime_class_exists:
            message = (
                f"RuntimeClass {name!r} does not exist; install gVisor and its RuntimeClass "
                "(the sandbox never runs without it)"
            )
            reason = Reason.RUNTIME_CLASS_MISSING
        elif self.observed.runtime_class_handler not in self.settings.sandbox_handlers:
            message = (
                f"RuntimeClass {name!r} has handler {self.observed.runtime_class_handler!r}, "
                f"not gVisor ({', '.join(self.settings.sandbox_handlers)}); generated code "
                "would run without a sandbox"
            )
            reason = Reason.RUNTIME_CLASS_NOT_GVISOR
        else:
            return self.server("sandbox", ConditionType.SANDBOX_READY)
        self.condition(ConditionType.SANDBOX_READY, False, reason, message)
        return False

    def server(self, role: str, kind: ConditionType) -> bool:
        """Apply a server Deployment (+ Service, policy) and say whether it is available."""
        if role not in self.wanted:
            reason = Reason.EXTERNAL_ENDPOINT if role == "vllm" else Reason.NOT_NEEDED
            message = (
                "the spec names an endpoint or runs it in the driver"
                if role == "vllm" or self.target.executes_code
                else "the method executes no code"
            )
            self.condition(kind, True, reason, message)
            return True
        if self.servers_done():
            self.condition(kind, True, Reason.NOT_NEEDED, "released: the driver is done")
            return True
        for name, manifest in self.wanted.items():
            if name == role or name.startswith(role + "-"):
                self.plan.apply.append(manifest)
        # vLLM runs one Deployment per distinct in-cluster model: all of them must be up.
        deployments = self.server_deployments(role)
        waiting = []
        for deployment in deployments:
            observed = self.observed.children.get(key(deployment))
            if observed_available(observed):
                continue
            problem = deployment_problem(observed)
            if problem:
                self.condition(kind, False, problem.reason, problem.message)
                return False
            waiting.append(deployment["metadata"]["name"])
        names = ", ".join(d["metadata"]["name"] for d in deployments)
        if not waiting:
            verb = "is" if len(deployments) == 1 else "are"
            self.condition(kind, True, Reason.AVAILABLE, f"{names} {verb} available")
            return True
        problem = self.pod_problem(role)
        if problem:
            self.condition(kind, False, problem.reason, problem.message)
        else:
            self.condition(kind, None, Reason.DEPLOYING, f"waiting for {', '.join(waiting)}")
        return False

    def server_deployments(self, role: str) -> list[dict[str, Any]]:
        """The Deployments of a server role: `sandbox`, or every vLLM (`vllm`, `vllm-judge`)."""
        return [
            m
            for name, m in self.wanted.items()
            if m["kind"] == "Deployment" and (name == role or name.startswith(role + "-"))
        ]

    def pod_problem(self, component: str) -> Problem | None:
        return pod_problem(
            self.observed.pods, self.target.name, component, self.settings.crash_loop_restarts
        )

    def check_workload(self) -> None:
        """The driver's and the scoring child's pods, once those exist."""
        roles = [r for r in ("driver", "scoring") if r in self.wanted]
        if not any(key(self.wanted[r]) in self.observed.children for r in roles):
            return
        for role in roles:
            problem = self.pod_problem(role)
            if problem:
                self.condition(
                    ConditionType.WORKLOAD_HEALTHY, False, problem.reason, problem.message
                )
                return
        self.condition(ConditionType.WORKLOAD_HEALTHY, True, Reason.RUNNING, "no pod is stuck")

    def stuck_too_long(self) -> tuple[str, str] | None:
        for kind in _HEALTH:
            cond = self.status.condition(kind)
            if not cond or cond.status != "False" or cond.reason in _NOT_STUCK:
                continue
            if cond.reason == Reason.UNSCHEDULABLE.value:
                grace = self.settings.unschedulable_grace_seconds
            else:
                grace = self.settings.stuck_grace_seconds
            since = datetime.strptime(cond.last_transition_time, "%Y-%m-%dT%H:%M:%SZ")
            waited = (self.observed.now - since.replace(tzinfo=UTC)).total_seconds()
            if waited > grace:
                return cond.reason, f"{cond.message} (for {int(waited)} s)"
        return None

    def terminal_ready(self) -> None:
        if self.status.phase is Phase.FAILED:
            reason = self.status.reason or Reason.DRIVER_FAILED.value
            message = self.status.message or "the run failed"
            self.condition(ConditionType.READY, False, reason, message, event=None)
        else:
            self.condition(ConditionType.READY, True, Reason.SUCCEEDED, "the dataset is written")

    def servers_done(self) -> bool:
        """The driver completed and a scoring child follows: vLLM and the sandbox can go."""
        driver_job = self.observed.children.get(key(self.wanted["driver"]))
        return "scoring" in self.wanted and job_state(driver_job)[0] == "complete"

    # -- phases -----------------------------------------------------------------------------

    def rerun(self, reason: Reason, message: str) -> Plan:
        """Delete the Jobs and start again (they are immutable); Complete and Failed reset."""
        for role in ("driver", "scoring"):
            manifest = self.wanted.get(role)
            if manifest and key(manifest) in self.observed.children:
                self.plan.delete.append(_ref(manifest))
        self.status.start_time = self.status.completion_time = None
        self.status.reason, self.status.message = reason.value, message
        self.status.signature = self.target.signature
        for kind in (ConditionType.COMPLETE, ConditionType.FAILED):
            self.condition(kind, False, Reason.RERUN, message, event=None)
        self.condition(ConditionType.READY, False, Reason.RERUN, message, event=None)
        self.status.phase = Phase.PENDING
        self.plan.events.append(Event("Normal", reason.value, message))
        self.status.observed_generation = self.observed.generation
        return self.plan

    def wait_for_secrets(self, message: str) -> Plan:
        """Nothing is created or changed until the Secrets the spec names exist."""
        self.condition(ConditionType.READY, False, Reason.SECRET_MISSING, message)
        self.status.reason, self.status.message = Reason.SECRET_MISSING.value, message
        if not self.current.start_time:  # a started run keeps its phase and its children
            self.transition(Phase.PENDING, Reason.SECRET_MISSING, message)
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
        driver_state, driver_message = job_state(driver_job)
        scoring_manifest = self.wanted.get("scoring")
        scoring_job = (
            self.observed.children.get(key(scoring_manifest)) if scoring_manifest else None
        )
        scoring_state, scoring_message = job_state(scoring_job)
        if driver_state == "failed":
            return self.fail(Reason.DRIVER_FAILED, f"driver Job failed: {driver_message}")
        if scoring_state == "failed":
            return self.fail(Reason.SCORING_FAILED, f"scoring failed: {scoring_message}")
        if driver_job is None:
            return self.start_driver(missing)
        self.plan.apply.append(driver_manifest)  # keeps it un-suspended after a resume
        self.status.start_time = self.status.start_time or self.now
        done = driver_state == "complete"
        phase = driver_phase(self.status, self.target.stages)
        if scoring_manifest is not None and done:
            self.plan.apply.append(scoring_manifest)
            for name, manifest in self.wanted.items():
                if name.startswith("scoring-"):
                    self.plan.apply.append(manifest)
            self.release_servers()  # the driver is done: no GPU held through CPU-only scoring
            done, phase = scoring_state == "complete", Phase.SCORING
        ledger = self.observed.ledger
        if done and ledger is not None:
            if final_stage_complete(ledger, self.target.stages):
                return self.succeed()
            last = (self.target.stages or [])[-1].name if self.target.stages else "?"
            message = f"the run's Jobs completed but its last stage {last!r} did not"
            return self.fail(Reason.INCOMPLETE_RUN, message)
        message = _phase_message(phase, self.status)
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
        self.condition(ConditionType.FAILED, False, Reason.SUCCEEDED, message)
        self.transition(Phase.SUCCEEDED, Reason.SUCCEEDED, message)
        self.terminal_ready()
        return self.release_servers()

    def fail(self, reason: str, message: str) -> Plan:
        super().fail(reason, message)
        return self.release_servers()

    def release_servers(self) -> Plan:
        """A finished run frees its GPUs and sandbox pods; Jobs stay for their logs."""
        self.plan.apply = [m for m in self.plan.apply if m["kind"] != "Deployment"]
        for role in ("vllm", "sandbox"):
            for manifest in self.server_deployments(role):
                if key(manifest) in self.observed.children:
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
