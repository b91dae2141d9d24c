"""The Helm chart, offline (helm-python-sdk): lint, render, values schema, CRD in sync."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from codeinstruct.operator.settings import PREFIX, Settings

helm = pytest.importorskip("helm_python", reason="dev extra: helm-python-sdk")

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "codeinstruct"


def render(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    chart = helm.Chart.load(str(CHART))
    out = chart.render(values or {}, name="ci", namespace="codeinstruct-system")
    return [
        doc
        for path, text in out.items()
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def test_lint_is_clean() -> None:
    report = helm.lint(str(CHART), strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_renders_operator_with_rbac() -> None:
    documents = render()
    kinds = sorted(d["kind"] for d in documents)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Deployment", "Service", "ServiceAccount"]
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    model = client.ApiClient()._ApiClient__deserialize(deployment, "V1Deployment")  # type: ignore[attr-defined]
    container = model.spec.template.spec.containers[0]
    assert container.command == ["codeinstruct", "operator", "--standalone"]
    names = {e.name for e in container.env}
    settings = {PREFIX + f.name.upper() for f in dataclasses.fields(Settings)}
    assert {n for n in names if n.startswith(PREFIX)} <= settings
    role = next(d for d in documents if d["kind"] == "ClusterRole")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {
        "instructiondatasets/status",
        "jobs",
        "deployments",
        "networkpolicies",
        "rayjobs",
        "runtimeclasses",
        "events",
    } <= resources


def test_optional_objects() -> None:
    documents = render(
        {"sandbox": {"createRuntimeClass": True}, "metrics": {"serviceMonitor": {"enabled": True}}}
    )
    kinds = {d["kind"] for d in documents}
    assert {"RuntimeClass", "ServiceMonitor"} <= kinds
    runtime = next(d for d in documents if d["kind"] == "RuntimeClass")
    assert runtime["metadata"]["name"] == "gvisor" and runtime["handler"] == "runsc"


@pytest.mark.parametrize(
    "values",
    [
        {"replicaCount": "one"},
        {"image": {"repository": "x", "pullPolicy": "Sometimes"}},
        {"unknownKey": 1},
        {"reconcileInterval": 0},
    ],
)
def test_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    chart = helm.Chart.load(str(CHART))
    with pytest.raises(helm.HelmError):
        chart.validate_schema(values)


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
            assert lines[index - 1].strip().startswith("# --"), f"values.yaml:{index + 1}: {line}"
