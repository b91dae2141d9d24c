"""Where a child's pods run: the operator's placement settings, the GPU ones for vLLM, then the
dataset's `spec.scheduling`, applied to a pod spec. Later layers win: node selector keys are
overridden, tolerations and pull secrets add up, an affinity or a priority class replaces."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders.meta import Target


def place(pod: dict[str, Any], target: Target, gpu: bool = False) -> dict[str, Any]:
    """The pod spec with its placement set (in place; returned for chaining)."""
    scheduling = target.spec.scheduling
    overlay: dict[str, Any] = {
        "nodeSelector": scheduling.node_selector,
        "tolerations": [
            t.model_dump(by_alias=True, exclude_none=True) for t in scheduling.tolerations
        ],
        "affinity": scheduling.affinity,
        "priorityClassName": scheduling.priority_class_name,
        "imagePullSecrets": [{"name": name} for name in scheduling.image_pull_secrets],
    }
    layers = [target.settings.placement]
    if gpu:
        layers.append(target.settings.gpu_placement)
    layers.append(overlay)
    for layer in layers:
        _merge(pod, layer)
    return pod


def _merge(pod: dict[str, Any], layer: dict[str, Any]) -> None:
    if layer.get("nodeSelector"):
        pod["nodeSelector"] = {**pod.get("nodeSelector", {}), **layer["nodeSelector"]}
    for key in ("tolerations", "imagePullSecrets"):
        for item in layer.get(key) or []:
            present = pod.setdefault(key, [])
            if item not in present:
                present.append(item)
    for key in ("affinity", "priorityClassName"):
        if layer.get(key):
            pod[key] = layer[key]
