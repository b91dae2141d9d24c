"""What every rendered child must hold on a hardened cluster: Pod Security `restricted` for
every pod (vLLM, the Ray head, workers and submitter included), no signature label on pod
templates, deadlines on Jobs and the RayJob, network policies for Ray and vLLM."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from codeinstruct.operator.constants import LABEL_DATASET
from codeinstruct.operator.main import render
from tests.helpers.paths import SAMPLES
from tests.helpers.pod_security import violations

SIGNATURE_LABEL = "codeinstruct.dev/signature"


def rendered(sample: Path, rayjob: bool) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(render(str(sample), "ml", rayjob)))


def pod_templates(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every pod template a child carries, by a readable name."""
    spec = manifest.get("spec") or {}
    name = manifest["metadata"]["name"]
    if manifest["kind"] in {"Deployment", "Job"}:
        return {name: spec["template"]}
    if manifest["kind"] == "RayJob":
        cluster = spec["rayClusterSpec"]
        found = {f"{name}/head": cluster["headGroupSpec"]["template"]}
        for group in cluster["workerGroupSpecs"]:
            found[f"{name}/{group['groupName']}"] = group["template"]
        if "submitterPodTemplate" in spec:
            found[f"{name}/submitter"] = spec["submitterPodTemplate"]
        else:
            found[f"{name}/submitter"] = {"spec": {"containers": [{"name": "ray-job-submitter"}]}}
        return found
    return {}


@pytest.mark.parametrize("rayjob", [False, True], ids=["job", "rayjob"])
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name.split(".")[1])
def test_every_pod_is_pod_security_restricted(sample: Path, rayjob: bool) -> None:
    refused = {}
    for manifest in rendered(sample, rayjob):
        for name, template in pod_templates(manifest).items():
            found = violations(template["spec"])
            if found:
                refused[name] = found
    assert refused == {}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name.split(".")[1])
def test_pod_templates_carry_no_signature_label(sample: Path) -> None:
    """An operator upgrade that moves the signature must not roll vLLM and sandbox pods."""
    for manifest in rendered(sample, True):
        for name, template in pod_templates(manifest).items():
            labels = (template.get("metadata") or {}).get("labels") or {}
            assert SIGNATURE_LABEL not in labels, name


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name.split(".")[1])
def test_jobs_and_rayjobs_have_deadlines(sample: Path) -> None:
    for manifest in rendered(sample, True) + rendered(sample, False):
        if manifest["kind"] == "Job":
            assert manifest["spec"].get("activeDeadlineSeconds", 0) > 0, manifest["metadata"]
        if manifest["kind"] == "RayJob":
            assert manifest["spec"].get("activeDeadlineSeconds", 0) > 0
            assert manifest["spec"].get("preRunningDeadlineSeconds", 0) > 0


def test_ray_pods_are_fenced_and_mount_no_token() -> None:
    xcoder = next(p for p in SAMPLES if "xcoder" in p.name)
    manifests = rendered(xcoder, True)
    rayjob = next(m for m in manifests if m["kind"] == "RayJob")
    for name, template in pod_templates(rayjob).items():
        assert template["spec"].get("automountServiceAccountToken") is False, name
    dataset = rayjob["metadata"]["labels"][LABEL_DATASET]
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    ray_policy = [
        p
        for p in policies
        if p["spec"]["podSelector"].get("matchLabels", {}).get("ray.io/cluster") is not None
        or p["metadata"]["name"].endswith("-scoring")
    ]
    assert len(ray_policy) == 1, [p["metadata"]["name"] for p in policies]
    ingress = ray_policy[0]["spec"]["ingress"]
    assert ingress and all(
        peer["podSelector"]["matchLabels"] == {LABEL_DATASET: dataset}
        for rule in ingress
        for peer in rule["from"]
    )


def test_vllm_has_an_ingress_policy_and_writable_hf_home() -> None:
    sca = next(p for p in SAMPLES if "selfcodealign" in p.name)
    manifests = rendered(sca, False)
    vllm = next(
        m
        for m in manifests
        if m["metadata"]["name"].endswith("-vllm") and m["kind"] == "Deployment"
    )
    container = vllm["spec"]["template"]["spec"]["containers"][0]
    home = next(e["value"] for e in container["env"] if e["name"] == "HF_HOME")
    mounts = [m["mountPath"] for m in container["volumeMounts"]]
    assert any(home.startswith(path) for path in mounts) and not home.startswith("/root")
    policy = next(
        m
        for m in manifests
        if m["kind"] == "NetworkPolicy" and m["metadata"]["name"].endswith("-vllm")
    )
    assert policy["spec"]["policyTypes"] == ["Ingress"]


def test_wavecoder_gets_no_sandbox() -> None:
    """WaveCoder never executes code: no gVisor sandbox for it (audit #19)."""
    wavecoder = next(p for p in SAMPLES if "wavecoder" in p.name)
    names = [m["metadata"]["name"] for m in rendered(wavecoder, False)]
    assert not any(n.endswith("-sandbox") for n in names), names


def test_vllm_requires_the_datasets_api_key_and_the_driver_sends_it() -> None:
    """Audit #7: with generator.apiKeySecret, vLLM serves only callers with that key
    (VLLM_API_KEY) and the driver's cluster spec names the variable holding it."""
    from codeinstruct.operator.builders import driver, vllm
    from codeinstruct.operator.builders.meta import Target
    from codeinstruct.operator.settings import Settings
    from tests.conftest import make_dataset

    ref = {"name": "ids-key", "key": "token"}
    dataset = make_dataset(
        generator={"backend": "vllm", "model": "org/m", "apiKeySecret": ref},
        output={"uri": "s3://b/p"},
    )
    target = Target(dataset, "ml", Settings())
    container = vllm.deployment(target)["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == ref
    cluster_spec = yaml.safe_load(driver.config_map(target)["data"]["spec.yaml"])["spec"]
    variable = cluster_spec["generator"]["apiKeyEnv"]
    job_env = driver.job(target)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert any(e["name"] == variable and "valueFrom" in e for e in job_env)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name.split(".")[1])
def test_jobs_fail_at_once_on_a_user_error_and_ignore_disruptions(
    sample: Path, tmp_path: Path
) -> None:
    """Every Job's podFailurePolicy: DisruptionTarget is Ignored, the exit code the CLI really
    returns for a user error (a spec it refuses) is FailJob on the Job's own container."""
    from codeinstruct.workers.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: codeinstruct.dev/v1alpha1\nkind: InstructionDataset\nspec: {}\n")
    user_error = main(["validate", str(bad)])
    assert user_error != 0
    jobs = [m for m in rendered(sample, False) if m["kind"] == "Job"]
    assert jobs
    for manifest in jobs:
        spec = manifest["spec"]
        assert spec["template"]["spec"]["restartPolicy"] == "Never"  # podFailurePolicy needs it
        ignore, fail = spec["podFailurePolicy"]["rules"]
        assert ignore == {
            "action": "Ignore",
            "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
        }
        container = spec["template"]["spec"]["containers"][0]["name"]
        assert fail["action"] == "FailJob"
        assert fail["onExitCodes"] == {
            "containerName": container,
            "operator": "In",
            "values": [user_error],
        }
