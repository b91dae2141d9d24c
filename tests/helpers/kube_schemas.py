"""Strict validation against the Kubernetes OpenAPI schemas of `kubernetes_validate`, with one
validator per (version, kind) for the session: the package re-reads and re-resolves its
definitions (several MB of JSON) on every call, which made it the slowest part of the unit suite.

`validate` behaves as `kubernetes_validate.validate(data, version, strict=True)`: the same
schema file, the same errors (`kubernetes_validate.ValidationError`, `SchemaNotFoundError`)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
from kubernetes_validate import utils
from referencing import Registry, Resource


@cache
def _definitions(schema_dir: str, version: str) -> Resource[Any]:
    return Resource.from_contents(
        utils.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    )


@cache
def _validator(version: str, kind: str, api_version: str) -> jsonschema.Validator:
    schema_version = [
        v for v in utils.all_versions() if utils.major_minor(v) <= utils.major_minor(version)
    ][-1]
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_dir = f"v{schema_version}-local-strict"
    try:
        schema = utils.schema_contents(
            f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group}.json", version
        )
    except FileNotFoundError:
        raise kubernetes_validate.SchemaNotFoundError(
            version=utils.major_minor(version), kind=kind, api_version=api_version
        ) from None
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = _definitions(schema_dir, version) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def validate(data: dict[str, Any], version: str) -> None:
    """Strict validation of one object (unknown fields are errors)."""
    validator = _validator(version, data["kind"], data["apiVersion"])
    try:
        validator.validate(data)
    except jsonschema.ValidationError as error:
        raise kubernetes_validate.ValidationError(
            error, version=utils.major_minor(version)
        ) from None
