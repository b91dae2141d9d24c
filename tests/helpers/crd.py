"""Validating a document as the API server would: the CRD's OpenAPI schema and its CEL rules."""

from __future__ import annotations

from typing import Any

import celpy
import jsonschema
import yaml

from codeinstruct.operator.crd import build_crd
from tests.helpers.paths import REPO

CRD_FILE = REPO / "crds" / "instructiondatasets.yaml"


def _json_schema(node: Any) -> Any:
    """The CRD's OpenAPI v3.0 dialect as JSON Schema draft 4 (`nullable` -> a null type)."""
    if isinstance(node, dict):
        out = {k: _json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes")}
        if out.pop("nullable", False):
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out
    if isinstance(node, list):
        return [_json_schema(v) for v in node]
    return node


def schema() -> dict[str, Any]:
    version = yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]
    return dict(_json_schema(version["schema"]["openAPIV3Schema"]))


def schema_errors(document: dict[str, Any]) -> list[str]:
    """What the committed CRD's schema says is wrong with `document` (empty: valid)."""
    validator = jsonschema.Draft4Validator(schema())
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]


def rules(path: tuple[str, ...]) -> list[dict[str, str]]:
    node = build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for part in path:
        node = node["properties"][part]
    return list(node.get("x-kubernetes-validations", []))


def cel_errors(spec: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Evaluate the CRD's CEL rules like the API server (transition rules only on update)."""
    env = celpy.Environment()
    messages = []
    paths: list[tuple[str, ...]] = [(), ("method",), ("source",), ("generator",)]
    for path in paths:
        value: Any = spec
        previous: Any = old
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
            previous = previous.get(part) if isinstance(previous, dict) else None
        if value is None:
            continue
        for rule in rules(path):
            if "oldSelf" in rule["rule"] and previous is None:
                continue
            activation = {"self": celpy.json_to_cel(value)}
            if previous is not None:
                activation["oldSelf"] = celpy.json_to_cel(previous)
            if not env.program(env.compile(rule["rule"])).evaluate(activation):
                messages.append(rule["message"])
    return messages
