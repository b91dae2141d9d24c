"""The Secrets a spec names, and whether the operator may hand them to its pods.

Whoever may create an InstructionDataset must not thereby read any Secret of the namespace:
the operator passes a Secret to a pod only when the Secret carries `LABEL_SECRET_ALLOWED`.
Only metadata (labels) is looked at; Secret data is never kept, logged or reported.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from codeinstruct.operator.constants import LABEL_SECRET_ALLOWED
from codeinstruct.workers.llm.roles import ROLE_FIELDS, ROLES, own_model
from codeinstruct.workers.spec import Generator, Spec

# Name -> labels of a Secret that exists; None: it does not exist.
SecretLabels = Mapping[str, Mapping[str, str] | None]


@dataclass(frozen=True)
class SecretRef:
    field: str  # where the spec names it, e.g. spec.generator.apiKeySecret
    name: str


def secret_refs(spec: Spec) -> list[SecretRef]:
    """Every Secret the spec names, with the field that names it (first mention per field)."""
    refs: list[SecretRef] = []
    if spec.output.credentials_secret:
        refs.append(SecretRef("spec.output.credentialsSecret", spec.output.credentials_secret))
    models: list[tuple[str, Generator]] = [("generator", spec.generator)]
    models += [(ROLE_FIELDS[r], m) for r in ROLES if (m := own_model(spec, r)) is not None]
    for path, model in models:
        if model.api_key_secret:
            refs.append(SecretRef(f"spec.{path}.apiKeySecret", model.api_key_secret.name))
        if model.vllm.hf_token_secret:
            token = model.vllm.hf_token_secret.name
            refs.append(SecretRef(f"spec.{path}.vllm.hfTokenSecret", token))
    return refs


def allowed(labels: Mapping[str, str]) -> bool:
    return labels.get(LABEL_SECRET_ALLOWED) == "true"


def missing_secrets(refs: list[SecretRef], found: SecretLabels) -> list[SecretRef]:
    """References to Secrets that do not exist (yet): the run waits for them."""
    return [ref for ref in refs if found.get(ref.name) is None]


def refused_secrets(refs: list[SecretRef], found: SecretLabels) -> list[SecretRef]:
    """References to existing Secrets not labelled for codeinstruct: the run fails."""
    return [
        ref for ref in refs if (labels := found.get(ref.name)) is not None and not allowed(labels)
    ]


def refused_message(refused: list[SecretRef], namespace: str) -> str:
    """Which Secret each field names, why it is refused, and the command that allows it."""
    names = sorted({ref.name for ref in refused})
    fields = "; ".join(f"{ref.field} names Secret {ref.name!r}" for ref in refused)
    fix = " && ".join(
        f"kubectl -n {namespace} label secret {name} {LABEL_SECRET_ALLOWED}=true" for name in names
    )
    return (
        f"{fields}, which is not labelled {LABEL_SECRET_ALLOWED}=true: the operator passes only "
        f"Secrets labelled for codeinstruct to its pods. If this dataset may use it, run `{fix}`"
    )


def missing_message(missing: list[SecretRef]) -> str:
    fields = "; ".join(f"{ref.field} names Secret {ref.name!r}" for ref in missing)
    return f"waiting for Secrets: {fields}, which does not exist in the namespace yet"
