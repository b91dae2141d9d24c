"""One vLLM per distinct in-cluster model, end to end against the emulated API server: a
WaveCoder dataset whose generator and judge are two in-cluster models gets two vLLM
Deployments and Services, each role's endpoint in the driver's spec points at its own, the run
waits for both, and a finished run frees both."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from codeinstruct.operator.stages import stage_names
from tests.helpers.kube_cluster import FakeCluster, eventually
from tests.helpers.operator import (
    IDS,
    NS,
    SAMPLES,
    child,
    dataset_of,
    load,
    phase_is,
    setup_cluster,
    status,
    write_card,
    write_stage,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SAMPLE = next(p for p in SAMPLES if "wavecoder" in p.name)


def model_of(deployment: dict[str, Any]) -> str:
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    return str(args[args.index("--model") + 1])


async def test_generator_and_judge_get_a_vllm_each_and_the_run_waits_for_both(
    cluster: FakeCluster,
    operator_factory: Any,
    s3_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = load(SAMPLE)
    dataset = dataset_of(body)
    name = body["metadata"]["name"]
    judge_name = f"{name}-vllm-judge"
    held = {judge_name}  # the judge's GPUs are not free yet: its controller does nothing
    play = cluster._play_deployment

    def play_deployment(deployment: dict[str, Any]) -> None:
        if deployment["metadata"]["name"] not in held:
            play(deployment)

    monkeypatch.setattr(cluster, "_play_deployment", play_deployment)
    setup_cluster(cluster)
    cluster.put(IDS, body)
    async with operator_factory():
        generator = await eventually(lambda: child(cluster, "apps/v1/deployments", f"{name}-vllm"))
        judge = await eventually(lambda: child(cluster, "apps/v1/deployments", judge_name))
        assert model_of(generator) == dataset.spec.generator.model
        assert model_of(judge) == dataset.spec.wavecoder.judge_model.model  # type: ignore[union-attr]
        limits = judge["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "2"
        for deployment in (generator, judge):
            service = await eventually(
                lambda d=deployment: child(cluster, "v1/services", d["metadata"]["name"])
            )
            labels = deployment["spec"]["template"]["metadata"]["labels"]
            assert service["spec"]["selector"].items() <= labels.items()
            assert (
                service["spec"]["selector"]["codeinstruct.dev/server"]
                == labels["codeinstruct.dev/server"]
            )
        config = child(cluster, "v1/configmaps", f"{name}-spec")
        spec = yaml.safe_load(config["data"]["spec.yaml"])["spec"]  # type: ignore[index]
        assert spec["generator"]["endpoint"] == f"http://{name}-vllm.{NS}.svc:8000/v1"
        assert (
            spec["wavecoder"]["judgeModel"]["endpoint"] == f"http://{judge_name}.{NS}.svc:8000/v1"
        )

        # The generator's vLLM comes up, the judge's does not: the run waits for the judge.
        def generator_up() -> bool:
            available = child(cluster, "apps/v1/deployments", f"{name}-vllm") or {}
            return bool(available.get("status", {}).get("availableReplicas") == 1)

        def waiting_for_the_judge() -> bool:
            conditions = {c["type"]: c for c in status(cluster, name).get("conditions", [])}
            ready = conditions.get("GeneratorReady") or {}
            return ready.get("status") != "True" and judge_name in ready.get("message", "")

        await eventually(generator_up)
        await eventually(waiting_for_the_judge)
        assert status(cluster, name)["phase"] == "Pending"
        assert child(cluster, "batch/v1/jobs", f"{name}-driver") is None

        held.clear()
        await eventually(phase_is(cluster, name, "Generating"))
        for stage in stage_names(dataset.spec) or []:
            write_stage(dataset, stage, 3)
        write_card(dataset)
        cluster.finish_job(NS, f"{name}-driver")
        await eventually(phase_is(cluster, name, "Succeeded"))
        # A finished run frees every model's GPUs.
        await eventually(lambda: child(cluster, "apps/v1/deployments", judge_name) is None)
        assert child(cluster, "apps/v1/deployments", f"{name}-vllm") is None
