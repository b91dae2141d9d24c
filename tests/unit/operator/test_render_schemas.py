"""`codeinstruct render` of every sample, with and without `--rayjob`, against the Kubernetes
OpenAPI schemas in strict mode (unknown fields are errors), for 1.30 and the newest release.

No registry package ships KubeRay's RayJob CRD, so the RayJob is checked where a core schema
applies: its head, worker and submitter pod templates, as strict core PodTemplates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from codeinstruct.operator.main import render

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="dev extra")

from tests.helpers.kube_schemas import validate  # noqa: E402  (after the dev-extra check)
from tests.helpers.operator import SAMPLES  # noqa: E402

VERSIONS = ("1.30.0", "1.37.0")


def ray_pod_templates(rayjob: dict[str, Any]) -> list[dict[str, Any]]:
    spec = rayjob["spec"]
    cluster = spec["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"], spec["submitterPodTemplate"]]
    templates += [group["template"] for group in cluster["workerGroupSpecs"]]
    return [
        {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": f"{rayjob['metadata']['name']}-{i}", "namespace": "ml"},
            "template": template,
        }
        for i, template in enumerate(templates)
    ]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("rayjob", [False, True], ids=["job", "rayjob"])
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name.split(".")[1])
def test_rendered_objects_are_strictly_valid(sample: Path, rayjob: bool, version: str) -> None:
    objects = list(yaml.safe_load_all(render(str(sample), "ml", rayjob)))
    checked = []
    for obj in objects:
        for resource in ray_pod_templates(obj) if obj["kind"] == "RayJob" else [obj]:
            validate(resource, version)
            checked.append(resource["kind"])
    assert "Job" in checked and "ConfigMap" in checked
    assert ("PodTemplate" in checked) == any(o["kind"] == "RayJob" for o in objects)


def test_strict_validation_catches_an_unknown_field() -> None:
    """The check itself: a misspelt field is an error in strict mode."""
    sample = SAMPLES[0]
    job = next(
        o for o in yaml.safe_load_all(render(str(sample), "ml", False)) if o["kind"] == "Job"
    )
    job["spec"]["template"]["spec"]["automountServiceAccountTokens"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job, VERSIONS[0])
