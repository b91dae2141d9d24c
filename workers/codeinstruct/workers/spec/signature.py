"""The run signature: a short hash of what determines a run's output (its storage prefix).

Fields marked `NotSemantic` (speed and placement knobs: concurrency, replicas, endpoints, the
output location) stay out of it, wherever they are declared; the prompt data files and the
pipeline version are in it. Same signature, same prefix: a rerun resumes.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any, get_args

from pydantic import BaseModel

from codeinstruct.workers.spec.models import NOT_SEMANTIC, Spec

# Bumped when a stage changes what it produces for the same input: it enters the run signature.
PIPELINE_VERSION = "1"


def not_semantic(model: type[BaseModel]) -> dict[str, Any]:
    """The `exclude` argument of `model_dump` that leaves out every field marked NotSemantic."""
    exclude: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if NOT_SEMANTIC in field.metadata:
            exclude[name] = True
            continue
        nested = _model_of(field.annotation)
        if nested is not None:
            inner = not_semantic(nested)
            if inner:
                exclude[name] = inner
    return exclude


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, also when it is optional (`Generator | None`, a role's model)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = [_model_of(arg) for arg in get_args(annotation) if arg is not type(None)]
    found = [m for m in models if m is not None]
    return found[0] if len(found) == 1 and len(models) == 1 else None


def run_signature(spec: Spec) -> str:
    """A short hash of what determines the output: same signature, same run prefix (resume)."""
    semantic = spec.model_dump(mode="json", exclude=not_semantic(Spec))
    semantic["pipeline"] = PIPELINE_VERSION
    semantic["prompts"] = prompts_digest()
    blob = json.dumps(semantic, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def prompts_digest() -> str:
    """Hash of every prompt data file shipped with the package: a new prompt is a new run."""
    digest = hashlib.sha256()
    root = resources.files("codeinstruct.workers") / "prompts"
    if root.is_dir():
        for entry in sorted(_walk(root), key=lambda e: e[0]):
            digest.update(entry[0].encode())
            digest.update(entry[1])
    return digest.hexdigest()[:12]


def _walk(root: Any, prefix: str = "") -> list[tuple[str, bytes]]:
    entries: list[tuple[str, bytes]] = []
    for child in root.iterdir():
        name = f"{prefix}{child.name}"
        if child.is_dir():
            if child.name != "__pycache__":
                entries.extend(_walk(child, name + "/"))
        elif not child.name.endswith((".py", ".pyc")):
            entries.append((name, child.read_bytes()))
    return entries
