"""InstructionDataset documents for tests: as a dict, parsed, or written to a YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from codeinstruct.workers.spec import InstructionDataset, parse_spec


def spec_document(name: str = "test", **spec: Any) -> dict[str, Any]:
    """The YAML document of an InstructionDataset with keyword fields of `spec` (camelCase)."""
    spec.setdefault("method", "selfcodealign")
    spec.setdefault("targetSize", 100)
    return {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": name},
        "spec": spec,
    }


def make_dataset(name: str = "test", **spec: Any) -> InstructionDataset:
    """An InstructionDataset from keyword fields of `spec` (camelCase, as in YAML)."""
    return parse_spec(spec_document(name, **spec))


def write_spec(path: Path, name: str = "test", **spec: Any) -> Path:
    """Write the spec document to `path` (YAML) and return the path."""
    path.write_text(yaml.safe_dump(spec_document(name, **spec), sort_keys=False))
    return path
