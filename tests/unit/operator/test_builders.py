"""Builders: manifests are valid Kubernetes objects (checked by the `kubernetes` client models)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from kubernetes import client

from codeinstruct.operator.builders import driver, sandbox, scoring, vllm
from codeinstruct.operator.builders.meta import Target, child_name
from codeinstruct.operator.constants import Component
from codeinstruct.operator.main import render
from codeinstruct.operator.settings import Settings
from codeinstruct.workers.runner import run_prefix
from codeinstruct.workers.spec import parse_spec
from tests.conftest import make_dataset
from tests.helpers.paths import REPO

MODELS = {
    "Deployment": "V1Deployment",
    "Service": "V1Service",
    "Job": "V1Job",
    "ConfigMap": "V1ConfigMap",
    "NetworkPolicy": "V1NetworkPolicy",
}


def as_model(manifest: dict[str, Any]) -> Any:
    """Deserialize into the client's typed model: raises on missing required fields."""
    api = client.ApiClient()
    return api._ApiClient__deserialize(manifest, MODELS[manifest["kind"]])  # type: ignore[attr-defined]


def target(**spec: Any) -> Target:
    return Target(make_dataset(**spec), "data", Settings())


def vllm_target() -> Target:
    return target(
        generator={
            "backend": "vllm",
            "model": "org/coder-7b",
            "vllm": {
                "gpusPerReplica": 2,
                "hfTokenSecret": {"name": "hf", "key": "token"},
                "modelCachePvc": "cache",
            },
        }
    )


def test_vllm_deployment() -> None:
    t = vllm_target()
    model = as_model(vllm.deployment(t))
    pod = model.spec.template.spec
    container = pod.containers[0]
    assert container.resources.limits["nvidia.com/gpu"] == "2"
    assert container.resources.requests["nvidia.com/gpu"] == "2"
    assert "--tensor-parallel-size" in container.args
    assert container.startup_probe.http_get.path == "/health"
    assert (
        container.startup_probe.failure_threshold * container.startup_probe.period_seconds >= 1800
    )
    assert container.readiness_probe.http_get.path == "/health"
    shm = next(v for v in pod.volumes if v.name == "dshm")
    assert shm.empty_dir.medium == "Memory"
    cache = next(v for v in pod.volumes if v.name == "model-cache")
    assert cache.persistent_volume_claim.claim_name == "cache"
    token = next(e for e in container.env if e.name == "HF_TOKEN")
    assert token.value_from.secret_key_ref.name == "hf"
    assert pod.automount_service_account_token is False
    as_model(vllm.service(t))


def test_vllm_skipped_for_external_endpoint() -> None:
    t = target(generator={"backend": "openai", "endpoint": "http://llm:8000/v1"})
    assert not vllm.wanted(t)
    assert driver.cluster_dataset(t).spec.generator.endpoint == "http://llm:8000/v1"


def test_sandbox_is_hardened() -> None:
    t = target()
    model = as_model(sandbox.deployment(t))
    pod = model.spec.template.spec
    security = pod.containers[0].security_context
    assert pod.runtime_class_name == "gvisor"
    assert pod.automount_service_account_token is False
    assert pod.security_context.run_as_non_root is True
    assert security.read_only_root_filesystem is True
    assert security.capabilities.drop == ["ALL"]
    assert security.allow_privilege_escalation is False
    assert pod.containers[0].resources.limits["memory"]
    assert pod.containers[0].command == ["codeinstruct", "sandbox", "serve"]
    args = pod.containers[0].args
    assert args[args.index("--isolation") + 1] == "none"  # the gVisor pod is the sandbox
    assert pod.containers[0].readiness_probe.http_get.path == "/readyz"
    policy = as_model(sandbox.network_policy(t))
    assert policy.spec.policy_types == ["Ingress", "Egress"] and policy.spec.egress == []


def test_driver_job_and_spec() -> None:
    t = vllm_target()
    job = as_model(driver.job(t, until="execute"))
    pod = job.spec.template.spec
    assert pod.restart_policy == "Never" and pod.automount_service_account_token is False
    assert pod.containers[0].command[-2:] == ["--until", "execute"]
    config = as_model(driver.config_map(t))
    cluster = parse_spec(yaml.safe_load(config.data["spec.yaml"]))
    assert cluster.spec.generator.endpoint == "http://test-vllm.data.svc:8000/v1"
    assert cluster.spec.sandbox.endpoint == "http://test-sandbox.data.svc:8080"
    assert run_prefix(cluster) == run_prefix(t.dataset)


def test_driver_gets_storage_credentials() -> None:
    t = Target(
        make_dataset(output={"uri": "s3://b/p", "credentialsSecret": "s3"}),
        "data",
        Settings(s3_endpoint_url="http://minio:9000"),
    )
    container = as_model(driver.job(t)).spec.template.spec.containers[0]
    assert container.env_from[0].secret_ref.name == "s3"
    assert {"name": "S3_ENDPOINT_URL", "value": "http://minio:9000"} in driver.job(t)["spec"][
        "template"
    ]["spec"]["containers"][0]["env"]


def test_suspended_children_scale_to_zero() -> None:
    t = Target(vllm_target().dataset, "data", Settings(), suspended=True)
    assert vllm.deployment(t)["spec"]["replicas"] == 0
    assert sandbox.deployment(t)["spec"]["replicas"] == 0
    assert driver.job(t)["spec"]["suspend"] is True


def test_scoring_rayjob_or_single_pod_job() -> None:
    t = target(scoring={"engine": "ray"})
    assert scoring.wanted(t, "execute") and not scoring.wanted(t, None)
    rayjob = scoring.manifest(t, rayjob_available=True)
    assert rayjob["kind"] == "RayJob" and rayjob["spec"]["shutdownAfterJobFinishes"] is True
    assert "codeinstruct run" in rayjob["spec"]["entrypoint"]
    as_model(scoring.manifest(t, rayjob_available=False))


@pytest.mark.parametrize("name", ["a", "x" * 63])
def test_child_names_fit_63_characters(name: str) -> None:
    for component in Component:
        assert len(child_name(name, component)) <= 63
    assert child_name("x" * 63, Component.DRIVER) != child_name("x" * 62 + "y", Component.DRIVER)


def test_render_prints_every_child() -> None:
    text = render(str(REPO / "crds/samples/instructiondataset.selfcodealign.yaml"), "ml", False)
    documents = list(yaml.safe_load_all(text))
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == [
        "ConfigMap",
        "Deployment",
        "Deployment",
        "Job",
        "NetworkPolicy",
        "NetworkPolicy",
        "Service",
        "Service",
    ]
    for document in documents:
        as_model(document)
        assert document["metadata"]["namespace"] == "ml"
    assert "&id" not in text  # no YAML anchors: readable and diffable


def test_sandbox_pods_run_the_sandbox_image_with_its_python_environment() -> None:
    container = sandbox.deployment(target())["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == Settings().sandbox_image != Settings().image
    args = container["args"]
    assert args[args.index("--python-prefix") + 1] == "/opt/codeinstruct/python"
    own = sandbox.deployment(target(sandbox={"python": {"packages": ["sympy==1.14.0"]}}))
    own_args = own["spec"]["template"]["spec"]["containers"][0]["args"]
    assert own_args[own_args.index("--python-packages") + 1] == "sympy==1.14.0"
    # The args parse as `codeinstruct sandbox serve` takes them.
    from codeinstruct.workers.cli import build_parser

    parsed = build_parser().parse_args([*container["command"][1:], *args])
    assert parsed.python_prefix == "/opt/codeinstruct/python"
