"""The Helm chart, offline (helm-python-sdk): lint, render each option, values schema, CRD."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from codeinstruct.operator.settings import PREFIX, Settings

helm = pytest.importorskip("helm_python", reason="dev extra: helm-python-sdk")

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "codeinstruct"
DIGEST = "sha256:" + "ab" * 32
MONITORING = {
    "serviceMonitor": {"enabled": True},
    "podMonitors": {"enabled": True},
    "prometheusRule": {"enabled": True},
    "dashboard": {"enabled": True},
}


def render(values: dict[str, Any] | None = None, hooks: bool = False) -> list[dict[str, Any]]:
    chart = helm.Chart.load(str(CHART))
    out = chart.render(values or {}, name="ci", namespace="codeinstruct-system")
    documents = [
        doc
        for path, text in out.items()
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]
    is_hook = [("helm.sh/hook" in (d["metadata"].get("annotations") or {})) for d in documents]
    return [d for d, hook in zip(documents, is_hook, strict=True) if hook == hooks]


def notes(values: dict[str, Any] | None = None) -> str:
    chart = helm.Chart.load(str(CHART))
    out = chart.render(values or {}, name="ci", namespace="codeinstruct-system")
    return next(text for path, text in out.items() if path.endswith("NOTES.txt"))


def one(documents: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in documents if d["kind"] == kind]
    assert len(found) == 1, [d["kind"] for d in documents]
    return found[0]


def deserialize(document: dict[str, Any], model: str) -> Any:
    return client.ApiClient()._ApiClient__deserialize(document, model)  # type: ignore[attr-defined]


def operator_env(documents: list[dict[str, Any]]) -> dict[str, str]:
    container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_lint_is_clean() -> None:
    for values in ({}, {"metrics": MONITORING, "sandbox": {"createRuntimeClass": True}}):
        report = helm.lint(str(CHART), values, strict=True)
        assert report["errors"] == []
        assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_renders_operator_with_rbac() -> None:
    documents = render()
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "ServiceAccount"]
    deployment = one(documents, "Deployment")
    model = deserialize(deployment, "V1Deployment")
    container = model.spec.template.spec.containers[0]
    assert container.command[:2] == ["codeinstruct", "operator"]
    names = {e.name for e in container.env}
    settings = {PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    assert {n for n in names if n.startswith(PREFIX)} <= settings
    role = one(documents, "ClusterRole")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {
        "instructiondatasets/status",
        "jobs",
        "deployments",
        "networkpolicies",
        "poddisruptionbudgets",
        "rayjobs",
        "runtimeclasses",
        "events",
    } <= resources


def test_every_setting_the_chart_writes_reaches_the_operator() -> None:
    """The operator parses the chart's env as it would in the pod (JSON placement included)."""
    values = {
        "unschedulableGraceSeconds": 3600,
        "imagePullSecrets": [{"name": "regcred"}],
        "children": {
            "nodeSelector": {"pool": "batch"},
            "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
            "priorityClassName": "batch-low",
            "gpu": {"nodeSelector": {"pool": "gpu"}},
        },
        "vllm": {"memoryLimit": "40Gi", "ephemeralStorage": "80Gi", "podDisruptionBudget": True},
        "ray": {"workers": 4, "autoscaling": True, "shmSize": "4Gi"},
        "kueue": {"enabled": True, "queueName": "gpu-queue"},
        "metrics": {"podMonitors": {"enabled": True}, "monitoringNamespace": "prom"},
        "apiRateLimit": {"qps": 7.5, "burst": 12},
    }
    settings = Settings.from_env(operator_env(render(values)))
    assert settings.unschedulable_grace_seconds == 3600
    assert (settings.api_qps, settings.api_burst) == (7.5, 12)
    assert settings.placement == {
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}],
        "priorityClassName": "batch-low",
        "imagePullSecrets": [{"name": "regcred"}],
    }
    assert settings.gpu_placement == {"nodeSelector": {"pool": "gpu"}}
    assert (settings.vllm_memory_limit, settings.vllm_ephemeral_storage) == ("40Gi", "80Gi")
    assert settings.vllm_pdb is True
    assert (settings.ray_workers, settings.ray_autoscaling, settings.ray_shm_size) == (
        4,
        True,
        "4Gi",
    )
    assert settings.kueue_queue == "gpu-queue"
    assert settings.metrics_namespace == "prom"
    defaults = Settings.from_env(operator_env(render()))
    assert defaults.kueue_queue == "" and defaults.metrics_namespace == ""
    assert defaults.placement == {} and defaults.vllm_pdb is False


def test_an_empty_endpoint_url_does_not_hide_the_secrets_one() -> None:
    """`S3_ENDPOINT_URL=""` in env would override the credentials Secret's key (envFrom)."""
    documents = render({"storage": {"credentialsSecret": "codeinstruct-s3"}})
    container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "S3_ENDPOINT_URL" not in {e["name"] for e in container["env"]}
    assert "CODEINSTRUCT_S3_ENDPOINT_URL" not in {e["name"] for e in container["env"]}
    assert container["envFrom"] == [{"secretRef": {"name": "codeinstruct-s3"}}]
    env = operator_env(render({"storage": {"endpointUrl": "http://minio:9000"}}))
    assert env["S3_ENDPOINT_URL"] == env["CODEINSTRUCT_S3_ENDPOINT_URL"] == "http://minio:9000"


def test_port_zero_turns_metrics_off() -> None:
    documents = render({"metrics": {"port": 0}})
    assert "Service" not in {d["kind"] for d in documents}
    container = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert all(p["containerPort"] > 0 for p in container["ports"])
    assert operator_env(documents)["CODEINSTRUCT_METRICS_PORT"] == "0"
    assert "Metrics are off" in notes({"metrics": {"port": 0}})


def test_images_by_tag_or_digest() -> None:
    env = operator_env(render())
    assert env["CODEINSTRUCT_IMAGE"] == "ghcr.io/codeinstruct/codeinstruct:0.1.0"
    assert env["CODEINSTRUCT_RAY_IMAGE"] == "ghcr.io/codeinstruct/codeinstruct-ray:0.1.0"
    pinned = {"image": {"digest": DIGEST}, "rayImage": {"digest": DIGEST}}
    env = operator_env(render(pinned))
    assert env["CODEINSTRUCT_IMAGE"] == f"ghcr.io/codeinstruct/codeinstruct@{DIGEST}"
    assert env["CODEINSTRUCT_RAY_IMAGE"] == f"ghcr.io/codeinstruct/codeinstruct-ray@{DIGEST}"
    pod = one(render(pinned), "Deployment")["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == f"ghcr.io/codeinstruct/codeinstruct@{DIGEST}"


def test_standard_labels_and_kube_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"].startswith(">=1.30")
    for document in render({"extraLabels": {"team": "ml"}}):
        labels = document["metadata"]["labels"]
        assert labels["helm.sh/chart"] == f"codeinstruct-{chart['version']}"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["app.kubernetes.io/instance"] == "ci"
        assert labels["team"] == "ml"


def test_operator_pod_placement_and_pull_secrets() -> None:
    values = {
        "imagePullSecrets": [{"name": "regcred"}],
        "priorityClassName": "system-cluster-critical",
        "affinity": {"nodeAffinity": {}},
        "podAnnotations": {"example.com/scrape": "true"},
        "tolerations": [{"key": "infra", "operator": "Exists"}],
    }
    deployment = one(render(values), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert pod["affinity"] == {"nodeAffinity": {}}
    assert pod["tolerations"] == [{"key": "infra", "operator": "Exists"}]
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {
        "example.com/scrape": "true"
    }


def test_each_monitoring_object_is_switched_by_its_value() -> None:
    kinds = {
        "serviceMonitor": ("ServiceMonitor", 1),
        "podMonitors": ("PodMonitor", 3),
        "prometheusRule": ("PrometheusRule", 1),
        "dashboard": ("ConfigMap", 1),
    }
    assert not {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ConfigMap"} & {
        d["kind"] for d in render()
    }
    for key, (kind, count) in kinds.items():
        documents = render({"metrics": {key: {"enabled": True}}})
        assert sum(d["kind"] == kind for d in documents) == count, key
        others = {k for k, _ in kinds.values()} - {kind}
        assert not others & {d["kind"] for d in documents}, key


def test_service_monitor_labels_and_interval() -> None:
    values = {"serviceMonitor": {"enabled": True, "labels": {"release": "kps"}, "interval": "15s"}}
    monitor = one(render({"metrics": values}), "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "15s", "scrapeTimeout": "10s"}
    ]
    service = one(render({"metrics": values}), "Service")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )


def test_pod_monitors_select_the_operators_children() -> None:
    monitors = [
        d
        for d in render({"metrics": {"podMonitors": {"enabled": True}}})
        if d["kind"] == "PodMonitor"
    ]
    components = {
        m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for m in monitors
    }
    assert components == {"sandbox", "vllm", "driver"}
    for monitor in monitors:
        assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/managed-by"] == (
            "codeinstruct-operator"
        )
        endpoint = monitor["spec"]["podMetricsEndpoints"][0]
        assert endpoint["path"] == "/metrics"
        targets = {r["targetLabel"] for r in endpoint["relabelings"]}
        assert targets == {"namespace", "name"}  # what the dashboard and the alerts group by
    scoped = render({"watchNamespaces": ["ml"], "metrics": {"podMonitors": {"enabled": True}}})
    monitor = next(d for d in scoped if d["kind"] == "PodMonitor")
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ml"]}


def test_pod_monitor_labels_match_what_the_operator_puts_on_children() -> None:
    from codeinstruct.operator.builders import driver, sandbox, vllm
    from codeinstruct.operator.builders.meta import Target
    from tests.conftest import make_dataset

    target = Target(make_dataset(generator={"backend": "vllm", "model": "m"}), "ml", Settings())
    monitors = {
        m["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]: m
        for m in render({"metrics": {"podMonitors": {"enabled": True}}})
        if m["kind"] == "PodMonitor"
    }
    children = {
        "sandbox": sandbox.deployment(target),
        "vllm": vllm.deployment(target),
        "driver": driver.job(target),
    }
    for component, child in children.items():
        pod_labels = child["spec"]["template"]["metadata"]["labels"]
        selector = monitors[component]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod_labels.items(), component
        container = child["spec"]["template"]["spec"]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        port = monitors[component]["spec"]["podMetricsEndpoints"][0]["port"]
        assert port in ports, component
    runner = children["driver"]["spec"]["template"]["spec"]["containers"][0]
    flag = runner["command"].index("--metrics-port")
    assert int(runner["command"][flag + 1]) == runner["ports"][0]["containerPort"]


def test_dashboard_config_map_carries_the_dashboard() -> None:
    values = {"dashboard": {"enabled": True, "namespace": "grafana"}}
    config_map = one(render({"metrics": values}), "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "grafana"
    shipped = json.loads((CHART / "dashboards" / "codeinstruct.json").read_text())
    assert json.loads(config_map["data"]["codeinstruct.json"]) == shipped
    titles = {p["title"] for p in shipped["panels"]}
    for wanted in ("Datasets by phase", "Progress", "Estimated time remaining",
                   "Records dropped by stage", "LLM requests by verdict", "Tokens per second",
                   "LLM latency p50 / p95", "Sandbox verdicts", "Sandbox throughput",
                   "Reconcile errors"):  # fmt: skip
        assert wanted in titles


def test_prometheus_rule_has_every_alert_with_a_runbook() -> None:
    rule = one(
        render({"metrics": {"prometheusRule": {"enabled": True, "labels": {"r": "x"}}}}),
        "PrometheusRule",
    )
    assert rule["metadata"]["labels"]["r"] == "x"
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {
        "CodeinstructDatasetFailed",
        "CodeinstructDatasetStuck",
        "CodeinstructDatasetNoProgress",
        "CodeinstructReconcileErrors",
        "CodeinstructSandboxInfraErrors",
        "CodeinstructLlmFaults",
    }
    runbooks = (REPO / "docs" / "operations.md").read_text()
    for name, alert in alerts.items():
        anchor = alert["annotations"]["runbook_url"].rsplit("#", 1)[1]
        assert anchor == name.lower()
        assert f"### {name}" in runbooks, f"docs/operations.md has no runbook for {name}"
    tuned = one(
        render(
            {
                "metrics": {
                    "prometheusRule": {
                        "enabled": True,
                        "pendingMinutes": 90,
                        "noProgressMinutes": 45,
                    }
                }
            }
        ),
        "PrometheusRule",
    )
    rules = {r["alert"]: r for r in tuned["spec"]["groups"][0]["rules"]}
    assert rules["CodeinstructDatasetStuck"]["for"] == "90m"
    assert rules["CodeinstructDatasetNoProgress"]["for"] == "45m"


def test_runtime_class_scheduling_and_overhead() -> None:
    values = {
        "sandbox": {
            "createRuntimeClass": True,
            "runtimeClass": {
                "nodeSelector": {"sandbox.gke.io/runtime": "gvisor"},
                "tolerations": [
                    {
                        "key": "sandbox.gke.io/runtime",
                        "operator": "Equal",
                        "value": "gvisor",
                        "effect": "NoSchedule",
                    }
                ],
                "overhead": {"cpu": "250m", "memory": "120Mi"},
            },
        }
    }
    runtime = one(render(values), "RuntimeClass")
    model = deserialize(runtime, "V1RuntimeClass")
    assert model.handler == "runsc"
    assert model.scheduling.node_selector == {"sandbox.gke.io/runtime": "gvisor"}
    assert model.scheduling.tolerations[0].value == "gvisor"
    assert model.overhead.pod_fixed == {"cpu": "250m", "memory": "120Mi"}
    plain = one(render({"sandbox": {"createRuntimeClass": True}}), "RuntimeClass")
    assert "scheduling" not in plain and "overhead" not in plain


def test_crd_upgrade_hook_applies_the_charts_crd() -> None:
    hooks = render(hooks=True)
    assert sorted(d["kind"] for d in hooks) == [
        "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Job", "ServiceAccount",
    ]  # fmt: skip
    for document in hooks:
        assert document["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"
    config_map = one(hooks, "ConfigMap")
    shipped = yaml.safe_load((CHART / "crds" / "instructiondatasets.yaml").read_text())
    assert yaml.safe_load(config_map["data"]["instructiondatasets.yaml"]) == shipped
    role = one(hooks, "ClusterRole")
    assert role["rules"] == [
        {
            "apiGroups": ["apiextensions.k8s.io"],
            "resources": ["customresourcedefinitions"],
            "resourceNames": [shipped["metadata"]["name"]],
            "verbs": ["get", "patch"],
        }
    ]
    job = deserialize(one(hooks, "Job"), "V1Job")
    command = job.spec.template.spec.containers[0].command
    assert command[:3] == ["kubectl", "apply", "--server-side"]
    weights = {d["kind"]: int(d["metadata"]["annotations"]["helm.sh/hook-weight"]) for d in hooks}
    assert weights["Job"] > weights["ConfigMap"]  # the ConfigMap and RBAC exist first
    assert render({"crds": {"upgrade": False}}, hooks=True) == []


def test_notes_name_the_secrets_and_pvc_the_samples_need() -> None:
    text = notes()
    samples = "\n".join(p.read_text() for p in (REPO / "crds" / "samples").glob("*.yaml"))
    referenced = set(re.findall(r"(?:credentialsSecret|modelCachePvc):\s*(\S+)", samples))
    referenced |= set(re.findall(r"(?:hfTokenSecret|apiKeySecret):\s*\n\s*name:\s*(\S+)", samples))
    assert referenced >= {"codeinstruct-s3", "hf-token", "hf-model-cache", "llm-api-key"}
    for name in referenced:
        assert name in text, f"NOTES.txt does not mention {name}"
    secrets = referenced - {"hf-model-cache"}  # the PVC is no Secret
    labelled = set(
        re.findall(r"kubectl label secret ((?:[\w-]+ )+)codeinstruct.dev/secret=true", text)
    )
    assert secrets <= set(" ".join(labelled).split()), "the operator refuses unlabelled Secrets"
    assert "/main/" not in text  # samples of this release, not of the moving branch


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "one"},
        {"image": {"repository": "x", "pullPolicy": "Sometimes"}},
        {"unknownKey": 1},
        {"reconcileInterval": 0},
        {"image": {"repository": "x", "digest": "sha256:short"}},
        {"image": {"repository": "x", "tag": "sha256:" + "ab" * 32}},
        {"resources": {"cpu": "1"}},
        {"resources": {"limits": {"memory": "lots"}}},
        {"tolerations": [{"key": "a", "operator": "Sometimes"}]},
        {"children": {"tolerations": [{"effect": "Never"}]}},
        {"metrics": {"serviceMonitor": {"enabled": True, "interval": 30}}},
        {"metrics": {"serviceMonitor": {"enabled": True, "unknown": 1}}},
        {"metrics": {"port": 0, "serviceMonitor": {"enabled": True}}},
        {"metrics": {"prometheusRule": {"enabled": True, "pendingMinutes": 0}}},
        {"ray": {"workers": 0}},
        {"unschedulableGraceSeconds": -1},
        {"storage": {"endpointUrl": "minio:9000"}},
        {"apiRateLimit": {"qps": 0}},
        {"apiRateLimit": {"burst": 0.5}},
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    chart = helm.Chart.load(str(CHART))
    with pytest.raises(helm.HelmError):
        chart.validate_schema(values)


def test_schema_accepts_the_documented_values() -> None:
    chart = helm.Chart.load(str(CHART))
    chart.validate_schema(yaml.safe_load((CHART / "values.yaml").read_text()))
    chart.validate_schema({"metrics": {"port": 0}, "image": {"repository": "r", "digest": DIGEST}})


def test_chart_crd_is_the_generated_crd() -> None:
    assert (CHART / "crds" / "instructiondatasets.yaml").read_text() == (
        REPO / "crds" / "instructiondatasets.yaml"
    ).read_text(), "copy crds/instructiondatasets.yaml into charts/codeinstruct/crds/"


def test_every_value_is_documented() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    free_form = False  # inside `resources:` (a Kubernetes object documented as a whole)
    for index, line in enumerate(lines):
        if not line.startswith(" "):
            free_form = line.startswith("resources:")
        if free_form:
            continue
        if re.match(r"^\s*[A-Za-z]\w*:\s*\S", line) and not line.rstrip().endswith(":"):
            above = index - 1
            while above > 0 and lines[above].strip().startswith("#") and "# --" not in lines[above]:
                above -= 1
            assert lines[above].strip().startswith("# --"), f"values.yaml:{index + 1}: {line}"


def test_every_core_object_is_valid_for_kubernetes_1_30_strict() -> None:
    """With every option on, each object the chart renders (hooks included) passes the real
    OpenAPI schema in strict mode (unknown fields are errors); CRD kinds are checked above."""
    validate = pytest.importorskip("kubernetes_validate", reason="dev extra: kubernetes-validate")
    values = {
        "imagePullSecrets": [{"name": "regcred"}],
        "affinity": {"nodeAffinity": {}},
        "priorityClassName": "high",
        "podAnnotations": {"a": "b"},
        "extraLabels": {"team": "ml"},
        "tolerations": [{"key": "infra", "operator": "Exists"}],
        "storage": {"endpointUrl": "http://minio:9000", "credentialsSecret": "s3"},
        "sandbox": {
            "createRuntimeClass": True,
            "runtimeClass": {
                "nodeSelector": {"gvisor": "true"},
                "tolerations": [{"key": "gvisor", "operator": "Exists", "effect": "NoSchedule"}],
                "overhead": {"cpu": "250m", "memory": "120Mi"},
            },
        },
        "metrics": MONITORING,
    }
    documents = render(values) + render(values, hooks=True)
    core = [d for d in documents if d["apiVersion"] != "monitoring.coreos.com/v1"]
    assert {d["kind"] for d in core} >= {"Deployment", "Job", "RuntimeClass", "ConfigMap"}
    for document in core:
        validate.validate(document, "1.30.0", strict=True)
    from codeinstruct.operator.builders import vllm
    from codeinstruct.operator.builders.meta import Target
    from tests.conftest import make_dataset

    target = Target(make_dataset(generator={"backend": "vllm", "model": "m"}), "ml", Settings())
    validate.validate(vllm.disruption_budget(target), "1.30.0", strict=True)


def test_name_overrides() -> None:
    names = {d["metadata"]["name"] for d in render({"fullnameOverride": "ci-op"})}
    assert {"ci-op", "ci-op-metrics"} <= names
    deployment = one(render({"nameOverride": "instruct"}), "Deployment")
    assert deployment["metadata"]["name"] == "ci-instruct"
    assert deployment["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"] == "instruct"


def test_the_sandbox_image_is_its_own_and_the_operator_gets_it() -> None:
    from codeinstruct.operator.settings import Settings

    env = operator_env(render())
    assert env["CODEINSTRUCT_SANDBOX_IMAGE"] == Settings().sandbox_image
    assert env["CODEINSTRUCT_SANDBOX_IMAGE"] == "ghcr.io/codeinstruct/codeinstruct-sandbox:0.1.0"
    pinned = operator_env(render({"sandboxImage": {"digest": DIGEST}}))
    assert pinned["CODEINSTRUCT_SANDBOX_IMAGE"] == (
        f"ghcr.io/codeinstruct/codeinstruct-sandbox@{DIGEST}"
    )
