"""Kueue: a dataset that names a LocalQueue (or the operator's default queue) waits for capacity
instead of failing. Its Jobs and RayJobs carry the queue label and are created suspended (Kueue
unsuspends them on admission); its vLLM Deployment carries the label too (Kueue gates its pods
until the GPUs are free)."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders.meta import Target
from codeinstruct.operator.constants import ANNOTATION_SUSPENDED, LABEL_QUEUE


def queue_name(target: Target) -> str | None:
    return target.spec.scheduling.queue_name or target.settings.kueue_queue or None


def enqueue(manifest: dict[str, Any], target: Target) -> dict[str, Any]:
    """The child with its queue label (in place; returned). A queued Job or RayJob is always
    created suspended, since Kueue owns `suspend` once it admits it; a user's `spec.suspend`
    then shows as an annotation, so the change still reaches (and re-suspends) the Job."""
    queue = queue_name(target)
    if queue is None:
        return manifest
    manifest["metadata"]["labels"][LABEL_QUEUE] = queue
    if manifest["kind"] in {"Job", "RayJob"}:
        manifest["spec"]["suspend"] = True
        if target.suspended:
            manifest["metadata"].setdefault("annotations", {})[ANNOTATION_SUSPENDED] = "true"
    template = manifest["spec"].get("template")
    if manifest["kind"] == "Deployment" and template is not None:
        template["metadata"]["labels"] = {**template["metadata"]["labels"], LABEL_QUEUE: queue}
    return manifest
