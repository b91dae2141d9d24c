"""The CRD: generated from the spec models (no drift), samples valid, CEL rules enforced."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml

from codeinstruct.operator.crd import build_crd, render_crd
from codeinstruct.workers.spec import load_spec
from tests.helpers.crd import CRD_FILE, cel_errors
from tests.helpers.crd import schema_errors as validate
from tests.helpers.paths import SAMPLES


def test_committed_crd_matches_the_models() -> None:
    assert CRD_FILE.read_text() == render_crd(), "run `codeinstruct crd` and commit the file"


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name.split(".")[1])
def test_samples_parse_and_validate(sample: Path) -> None:
    dataset = load_spec(sample)
    document = yaml.safe_load(sample.read_text())
    assert validate(document) == []
    assert cel_errors(document["spec"]) == []
    assert dataset.spec.method.value == sample.name.split(".")[1]


def test_every_method_has_a_sample() -> None:
    from codeinstruct.workers.spec import Method

    assert {p.name.split(".")[1] for p in SAMPLES} == {m.value for m in Method}


def base() -> dict[str, Any]:
    return yaml.safe_load(SAMPLES[0].read_text())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"targetSize": 0}, "targetSize"),
        ({"method": "alpaca"}, "method"),
        ({"sandbox": {"memoryMib": 8}}, "memoryMib"),
        ({"generator": {"backend": "gpt"}}, "backend"),
    ],
)
def test_schema_rejects_invalid_specs(change: dict[str, Any], expected: str) -> None:
    document = base()
    document["spec"].update(change)
    errors = validate(document)
    assert errors and expected in errors[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targetSize": 0}, "spec.targetSize must be greater than 0"),
        ({"method": "alpaca"}, "spec.method must be one of"),
        ({"generator": {"backend": "openai"}}, "spec.generator.endpoint is required"),
        ({"generator": {"backend": "vllm"}}, "spec.generator.model is required"),
    ],
)
def test_cel_rejects_invalid_specs(change: dict[str, Any], message: str) -> None:
    spec = {**base()["spec"], **change}
    errors = cel_errors(spec)
    assert any(e.startswith(message) for e in errors), errors


@pytest.mark.parametrize("field", ["method", "source"])
def test_method_and_source_are_immutable(field: str) -> None:
    old = base()["spec"]
    new = copy.deepcopy(old)
    new[field] = "xcoder" if field == "method" else {"uri": "s3://other/pool", "format": "jsonl"}
    assert cel_errors(new, old) == [
        f"spec.{field} is immutable once set; create a new InstructionDataset instead"
    ]
    unchanged = {**old, "targetSize": 99}
    assert cel_errors(unchanged, old) == []


def test_crd_shape() -> None:
    crd = build_crd()
    version = crd["spec"]["versions"][0]
    assert crd["spec"]["names"]["shortNames"] == ["ids"]
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c for c in version["additionalPrinterColumns"]}
    assert list(columns)[:5] == ["Phase", "Progress", "Selected/Target", "Method", "Age"]
    assert columns["Model"]["priority"] == 1 and columns["Output"]["priority"] == 1
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["sandbox"]["properties"]["isolation"]["default"] == "gvisor"
    assert spec["properties"]["generator"]["default"] == {}
    text = render_crd()
    assert "$ref" not in text and "anyOf" not in text  # structural


def root_rule_errors(name: str) -> list[str]:
    """The CRD's root CEL rules (they see metadata.name) on a dataset named `name`."""
    schema = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    env = celpy.Environment()
    activation = {"self": celpy.json_to_cel({"metadata": {"name": name}, "spec": base()["spec"]})}
    return [
        rule["message"]
        for rule in schema.get("x-kubernetes-validations", [])
        if not env.program(env.compile(rule["rule"])).evaluate(activation)
    ]


@pytest.mark.parametrize(
    ("name", "ok"),
    [("sca-v2", True), ("1st-run", False), ("sca.v2", False), ("a" * 63, True), ("a" * 64, False)],
)
def test_names_that_make_invalid_children_are_rejected(name: str, ok: bool) -> None:
    """Audit #14: `1st-run-vllm` is not a valid Service name; a dotted or long name is not a
    valid label value."""
    errors = root_rule_errors(name)
    assert (errors == []) is ok, errors


def test_rules_name_their_field_and_reason() -> None:
    """Audit #25: every CEL rule carries fieldPath and reason; endpoints may not be empty;
    kubectl shows Ready and Reason."""
    version = build_crd()["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    found = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(node.get("x-kubernetes-validations", []))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(schema)
    assert found and all("reason" in r for r in found)
    # A rule on a scalar (the immutability rules) is reported at that field already.
    assert all("fieldPath" in r for r in found if "oldSelf" not in r["rule"])
    spec = schema["properties"]["spec"]["properties"]
    assert spec["generator"]["properties"]["endpoint"]["minLength"] == 1
    assert spec["sandbox"]["properties"]["endpoint"]["minLength"] == 1
    assert cel_errors({**base()["spec"], "generator": {"backend": "openai", "endpoint": ""}})
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert "Ready" in columns and "Reason" in columns
