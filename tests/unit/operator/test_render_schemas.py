"""`codeinstruct render` of every sample, with and without `--rayjob`, against the Kubernetes
OpenAPI schemas in strict mode (unknown fields are errors), for 1.30 and the newest release.

No registry package ships KubeRay's RayJob CRD: the RayJob is checked against our own strict
schema of the v1 fields we emit (`tests/helpers/rayjob_schema.py`, read from KubeRay 1.2.2 and
1.7.0), its pod templates as strict core PodTemplates.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from codeinstruct.operator.main import render

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="dev extra")

from tests.helpers import rayjob_schema  # noqa: E402  (after the dev-extra check)
from tests.helpers.kube_schemas import validate  # noqa: E402
from tests.helpers.operator import SAMPLES  # noqa: E402

VERSIONS = ("1.30.0", "1.37.0")
KUBERAY = (rayjob_schema.MINIMUM, rayjob_schema.NEWEST)
XCODER = next(s for s in SAMPLES if "xcoder" in s.name)  # the sample that scores on Ray


def rendered(sample: Path, rayjob: bool) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(render(str(sample), "ml", rayjob)))


def pruned(rayjob: dict[str, Any], kuberay: tuple[int, int]) -> dict[str, Any]:
    """The RayJob as an API server with that KubeRay's CRD stores it: newer fields pruned."""
    stored = copy.deepcopy(rayjob)
    for field, since in rayjob_schema.SINCE.items():
        if kuberay < since:
            stored["spec"].pop(field, None)
    return stored


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("rayjob", [False, True], ids=["job", "rayjob"])
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name.split(".")[1])
def test_rendered_objects_are_strictly_valid(sample: Path, rayjob: bool, version: str) -> None:
    objects = rendered(sample, rayjob)
    for obj in objects:
        if obj["kind"] == "RayJob":
            rayjob_schema.validate(obj, rayjob_schema.NEWEST, version)
        else:
            validate(obj, version)
    kinds = [o["kind"] for o in objects]
    assert "Job" in kinds and "ConfigMap" in kinds
    assert ("RayJob" in kinds) == (rayjob and sample == XCODER)


@pytest.mark.parametrize("kuberay", KUBERAY, ids=lambda v: f"kuberay-{v[0]}.{v[1]}")
def test_rayjob_is_valid_on_every_supported_kuberay(kuberay: tuple[int, int]) -> None:
    """On the minimum KubeRay only the fields `SINCE` names (and docs/kubernetes.md) are lost."""
    (rayjob,) = (o for o in rendered(XCODER, True) if o["kind"] == "RayJob")
    rayjob_schema.validate(pruned(rayjob, kuberay), kuberay, VERSIONS[-1])
    if kuberay < max(rayjob_schema.SINCE.values()):
        with pytest.raises(jsonschema.ValidationError, match="preRunningDeadlineSeconds"):
            rayjob_schema.validate(rayjob, kuberay, VERSIONS[-1])


def test_long_dataset_names_give_a_rayjob_name_kuberay_accepts(tmp_path: Path) -> None:
    """KubeRay refuses a RayJob named longer than 47 characters (its RayCluster is named
    `<rayjob>-xxxxx`, at most 53); dataset names may have 63."""
    body = yaml.safe_load(XCODER.read_text())
    for name in ("x" + "-long" * 12 + "-n", "x" * 39, "x" * 40):  # 63, 47 and 48 with "-scoring"
        body["metadata"]["name"] = name
        path = tmp_path / "dataset.yaml"
        path.write_text(yaml.safe_dump(body))
        objects = rendered(path, True)
        (rayjob,) = (o for o in objects if o["kind"] == "RayJob")
        rayjob_schema.validate(rayjob, rayjob_schema.NEWEST, VERSIONS[-1])
        assert rayjob["metadata"]["labels"]["codeinstruct.dev/dataset"] == name


def _misspelt_field(rayjob: dict[str, Any]) -> None:
    rayjob["spec"]["ttlSecondAfterFinished"] = 60


def _wrong_submission_mode(rayjob: dict[str, Any]) -> None:
    rayjob["spec"]["submissionMode"] = "K8sJob"


def _misspelt_group_field(rayjob: dict[str, Any]) -> None:
    rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplica"] = 1


def _string_deadline(rayjob: dict[str, Any]) -> None:
    rayjob["spec"]["activeDeadlineSeconds"] = "3600"


def _suspended_without_shutdown(rayjob: dict[str, Any]) -> None:
    rayjob["spec"].update(suspend=True, shutdownAfterJobFinishes=False)


def _replicas_above_max(rayjob: dict[str, Any]) -> None:
    group = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]
    group["replicas"] = group["maxReplicas"] + 1


def _name_too_long(rayjob: dict[str, Any]) -> None:
    rayjob["metadata"]["name"] = "x" * 48


def _misspelt_pod_field(rayjob: dict[str, Any]) -> None:
    rayjob["spec"]["submitterPodTemplate"]["spec"]["restartPolicies"] = "Never"


@pytest.mark.parametrize(
    ("corrupt", "error"),
    [
        (_misspelt_field, "'ttlSecondAfterFinished' was unexpected"),
        (_wrong_submission_mode, "'K8sJob' is not one of"),
        (_misspelt_group_field, "'maxReplica' was unexpected"),
        (_string_deadline, "'3600' is not of type 'integer'"),
        (_suspended_without_shutdown, "True was expected"),
        (_replicas_above_max, "replicas must lie in"),
        (_name_too_long, "is too long"),
        (_misspelt_pod_field, "'restartPolicies' was unexpected"),
    ],
    ids=lambda v: v.__name__.strip("_") if callable(v) else "",
)
def test_rayjob_schema_rejects_a_broken_render(
    corrupt: Callable[[dict[str, Any]], None], error: str
) -> None:
    """The RayJob check itself: each corruption of a valid render is an error, for its cause."""
    (rayjob,) = (o for o in rendered(XCODER, True) if o["kind"] == "RayJob")
    rayjob_schema.validate(rayjob, rayjob_schema.NEWEST, VERSIONS[0])  # valid before
    corrupt(rayjob)
    with pytest.raises((jsonschema.ValidationError, kubernetes_validate.ValidationError)) as info:
        rayjob_schema.validate(rayjob, rayjob_schema.NEWEST, VERSIONS[0])
    assert error in str(info.value)


def test_strict_validation_catches_an_unknown_field() -> None:
    """The check itself: a misspelt field is an error in strict mode."""
    job = next(o for o in rendered(SAMPLES[0], False) if o["kind"] == "Job")
    job["spec"]["template"]["spec"]["automountServiceAccountTokens"] = False
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(job, VERSIONS[0])
