"""One vLLM per distinct in-cluster model of the roles the method uses (generator,
`scoring.complexityModel`, `scoring.unitTestModel`, `wavecoder.judgeModel`), each role wired
to its own server; external endpoints get none."""

from __future__ import annotations

from typing import Any

import yaml

from codeinstruct.operator.builders import driver, vllm
from codeinstruct.operator.builders.desired import desired_children
from codeinstruct.operator.builders.meta import Target
from codeinstruct.operator.settings import Settings
from tests.conftest import make_dataset

SCORER = {"backend": "vllm", "model": "banksy/XCoder-Complexity-Scorer"}
TESTER = {"backend": "vllm", "model": "org/unit-test-70b", "vllm": {"gpusPerReplica": 4}}
EXTERNAL = {"backend": "openai", "endpoint": "http://llm.example:8000/v1", "model": "gpt"}


def target(**spec: Any) -> Target:
    return Target(make_dataset(**spec), "ml", Settings())


def deployments(t: Target) -> dict[str, dict[str, Any]]:
    children = desired_children(t, rayjob=False)
    return {
        m["metadata"]["name"]: m
        for m in children.values()
        if m["kind"] == "Deployment" and "vllm" in m["metadata"]["name"]
    }


def cluster_spec(t: Target) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(driver.config_map(t)["data"]["spec.yaml"])["spec"]
    return spec


def model_of(deployment: dict[str, Any]) -> str:
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return str(args[args.index("--model") + 1])


def test_xcoder_with_two_in_cluster_specialists_gets_two_servers_each_wired() -> None:
    t = target(
        method="xcoder",
        targetSize=10,
        source={"uri": "s3://b/pool", "format": "jsonl"},
        scoring={"complexityModel": SCORER, "unitTestModel": TESTER},
    )
    found = deployments(t)
    assert {model_of(d) for d in found.values()} == {SCORER["model"], TESTER["model"]}
    assert len(found) == 2, "the generator is not used by XCoder here: no server for it"
    tester = next(d for d in found.values() if model_of(d) == TESTER["model"])
    gpus = tester["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpus["nvidia.com/gpu"] == "4", "each server takes its own model's vLLM settings"
    scoring = cluster_spec(t)["scoring"]
    urls = {scoring["complexityModel"]["endpoint"], scoring["unitTestModel"]["endpoint"]}
    assert len(urls) == 2
    services = {
        m["metadata"]["name"]: m
        for m in desired_children(t, rayjob=False).values()
        if m["kind"] == "Service" and "vllm" in m["metadata"]["name"]
    }
    for name, deployment in found.items():
        service = services[name]
        assert any(url.startswith(f"http://{name}.ml.svc:8000/") for url in urls)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = service["spec"]["selector"]
        assert selector.items() <= pod_labels.items()
        assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
        for other in found.values():
            if other is not deployment:  # a Service never reaches another model's pods
                other_labels = other["spec"]["template"]["metadata"]["labels"]
                assert not selector.items() <= other_labels.items()


def test_roles_sharing_a_model_share_one_server() -> None:
    t = target(
        method="wavecoder",
        targetSize=10,
        generator=SCORER,
        wavecoder={"judgeModel": dict(SCORER)},
    )
    (name,) = deployments(t)
    assert name == "test-vllm"
    spec = cluster_spec(t)
    assert spec["generator"]["endpoint"] == spec["wavecoder"]["judgeModel"]["endpoint"]
    assert spec["generator"]["endpoint"].startswith("http://test-vllm.ml.svc:8000/")


def test_external_endpoints_get_no_server_and_keep_their_url() -> None:
    t = target(
        method="wavecoder",
        targetSize=10,
        generator=SCORER,
        wavecoder={"judgeModel": EXTERNAL},
    )
    assert list(deployments(t)) == ["test-vllm"]
    spec = cluster_spec(t)
    assert spec["wavecoder"]["judgeModel"]["endpoint"] == EXTERNAL["endpoint"]
    assert spec["generator"]["endpoint"].startswith("http://test-vllm.")


def test_a_role_model_key_secret_reaches_its_server_and_the_driver() -> None:
    ref = {"name": "judge-key", "key": "token"}
    t = target(
        method="wavecoder",
        targetSize=10,
        generator={"backend": "vllm", "model": "org/gen"},
        wavecoder={"judgeModel": {**SCORER, "apiKeySecret": ref}},
    )
    found = deployments(t)
    judge = next(d for d in found.values() if model_of(d) == SCORER["model"])
    env = {e["name"]: e for e in judge["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == ref
    variable = cluster_spec(t)["wavecoder"]["judgeModel"]["apiKeyEnv"]
    job_env = driver.job(t)["spec"]["template"]["spec"]["containers"][0]["env"]
    assert any(e["name"] == variable and e["valueFrom"]["secretKeyRef"] == ref for e in job_env)


def test_the_generator_server_keeps_its_name_and_deployment_selector() -> None:
    t = target(generator={"backend": "vllm", "model": "org/coder-7b"})
    assert list(deployments(t)) == ["test-vllm"]
    selector = deployments(t)["test-vllm"]["spec"]["selector"]["matchLabels"]
    assert "codeinstruct.dev/server" not in selector, "immutable: as before this change"
    assert [s.roles for s in vllm.servers(t)] == [("generator",)]
