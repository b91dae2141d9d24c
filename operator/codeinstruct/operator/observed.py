"""Readers of observed child state: is a Deployment available, is a pod stuck and why, has a
Job or RayJob finished. Pure functions over the objects the API server returned."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from codeinstruct.operator.constants import LABEL_COMPONENT, LABEL_DATASET

JobState = Literal["missing", "running", "complete", "failed"]
# Container waiting reasons that never resolve by themselves.
STUCK_WAITING = {
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
# KubeRay's IsJobDeploymentTerminal: everything else (Retrying included) is still running.
RAYJOB_TERMINAL = {"Complete", "Failed", "ValidationFailed"}


@dataclass(frozen=True)
class Problem:
    """Why a child is not progressing: a Kubernetes reason and a sentence naming the object."""

    reason: str
    message: str


def observed_available(deployment: dict[str, Any] | None) -> bool:
    if not deployment:
        return False
    return int((deployment.get("status") or {}).get("availableReplicas") or 0) > 0


def deployment_problem(deployment: dict[str, Any] | None) -> Problem | None:
    """ReplicaFailure (e.g. FailedCreate from Pod Security admission) or a passed deadline."""
    if not deployment:
        return None
    name = (deployment.get("metadata") or {}).get("name", "deployment")
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        failing = cond.get("type") == "ReplicaFailure" and cond.get("status") == "True"
        late = (
            cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded"
        )
        if failing or late:
            reason = cond.get("reason") or cond.get("type")
            return Problem(reason, f"{name}: {cond.get('message', reason)}")
    return None


def pod_problem(
    pods: list[dict[str, Any]], dataset: str, component: str, crash_loop_restarts: int
) -> Problem | None:
    """The first reason a pod of this component is stuck: unschedulable, an image or config
    error, a crash loop past `crash_loop_restarts`, or an OOM kill."""
    for pod in pods:
        meta = pod.get("metadata") or {}
        labels = meta.get("labels") or {}
        if labels.get(LABEL_DATASET) != dataset or labels.get(LABEL_COMPONENT) != component:
            continue
        name = meta.get("name", "?")
        status = pod.get("status") or {}
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("reason") == "Unschedulable":
                detail = cond.get("message", "")
                return Problem("Unschedulable", f"pod {name} is unschedulable: {detail}".strip())
        for container in status.get("containerStatuses") or []:
            state = container.get("state") or {}
            waiting = state.get("waiting") or {}
            reason = waiting.get("reason")
            restarts = int(container.get("restartCount") or 0)
            last = (container.get("lastState") or {}).get("terminated") or {}
            if reason in STUCK_WAITING:
                detail = waiting.get("message", "")
                return Problem(reason, f"pod {name}: {reason}: {detail}".strip())
            if reason == "CrashLoopBackOff" and restarts >= crash_loop_restarts:
                why = f" (last exit: {last['reason']})" if last.get("reason") else ""
                message = f"pod {name}: CrashLoopBackOff after {restarts} restarts{why}"
                return Problem(
                    "OOMKilled" if last.get("reason") == "OOMKilled" else reason, message
                )
    return None


def job_state(job: dict[str, Any] | None) -> tuple[JobState, str]:
    """The state of a batch Job or a RayJob, with a message when it failed."""
    if job is None:
        return "missing", ""
    state = job.get("status") or {}
    if job.get("kind") == "RayJob":
        deployment = state.get("jobDeploymentStatus")
        if deployment not in RAYJOB_TERMINAL:
            return "running", ""
        if deployment == "Complete" and state.get("jobStatus") == "SUCCEEDED":
            return "complete", ""
        detail = state.get("message") or state.get("reason") or f"RayJob {deployment}"
        return "failed", f"{deployment}: {detail}"
    for cond in state.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") in {"Complete", "SuccessCriteriaMet"}:
            return "complete", ""
        if cond.get("type") == "Failed":
            detail = cond.get("message") or cond.get("reason") or "no message"
            if cond.get("reason") == "PodFailurePolicy" and "FailJob" in detail:
                detail += " (a user error: fix what the pod's log names; not retried)"
            return "failed", f"{cond.get('reason', 'Failed')}: {detail}"
    return "running", ""
