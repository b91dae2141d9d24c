"""Validating a document as the API server would: the CRD's OpenAPI schema and its CEL rules.

The validator, the generated CRD and each compiled CEL rule are made once per session: they are
the slow part (a YAML parse, the whole CRD from the spec models, a CEL parse per rule)."""

from __future__ import annotations

import copy
from functools import cache, lru_cache
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


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    version = yaml.safe_load(CRD_FILE.read_text())["spec"]["versions"][0]
    return dict(_json_schema(version["schema"]["openAPIV3Schema"]))


def schema() -> dict[str, Any]:
    return copy.deepcopy(_schema())


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_schema())


def schema_errors(document: dict[str, Any]) -> list[str]:
    """What the committed CRD's schema says is wrong with `document` (empty: valid)."""
    errors = _validator().iter_errors(document)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors]


@lru_cache(maxsize=1)
def _spec_schema() -> dict[str, Any]:
    return dict(
        build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    )


def rules(path: tuple[str, ...]) -> list[dict[str, str]]:
    node = _spec_schema()
    for part in path:
        node = node["properties"][part]
    return copy.deepcopy(list(node.get("x-kubernetes-validations", [])))


_ENVIRONMENT = celpy.Environment()


@cache
def _program(rule: str) -> Any:
    return _ENVIRONMENT.program(_ENVIRONMENT.compile(rule))


def cel_errors(spec: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    """Evaluate the CRD's CEL rules like the API server (transition rules only on update)."""
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
            if not _program(rule["rule"]).evaluate(activation):
                messages.append(rule["message"])
    return messages
