"""The LLM roles of a run and the model each one uses.

XCoder scores complexity and writes unit tests with specialist models, and WaveCoder judges
with a stronger model than the one that generates; each role names its own LLM in the spec
(`scoring.complexityModel`, `scoring.unitTestModel`, `wavecoder.judgeModel`) and defaults to
`generator`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from codeinstruct.workers.spec import Generator, Method, Spec

Role = Literal["generator", "complexity", "unit_tests", "judge"]
ROLES: tuple[Role, ...] = ("generator", "complexity", "unit_tests", "judge")

# Where each role's model is set in the spec (YAML path, for messages and the card).
ROLE_FIELDS: dict[Role, str] = {
    "generator": "generator",
    "complexity": "scoring.complexityModel",
    "unit_tests": "scoring.unitTestModel",
    "judge": "wavecoder.judgeModel",
}


def own_model(spec: Spec, role: Role) -> Generator | None:
    """The model the spec sets for `role` itself; None when it falls back to the generator."""
    if role == "complexity":
        return spec.scoring.complexity_model
    if role == "unit_tests":
        return spec.scoring.unit_test_model
    if role == "judge":
        return spec.wavecoder.judge_model
    return None


def method_roles(spec: Spec) -> tuple[Role, ...]:
    """The roles whose model the spec's method sends requests to (XCoder's generator sends
    none: it scores an existing pool)."""
    if spec.method is Method.XCODER:
        scoring = spec.scoring
        roles: list[Role] = ["complexity"] if scoring.complexity_scorer == "llm" else []
        return (*roles, "unit_tests") if scoring.quality_scorer == "unit_tests" else tuple(roles)
    if spec.method is Method.WAVECODER:
        return ("generator", "judge")
    return ("generator",)


def role_model(spec: Spec, role: Role) -> Generator:
    """The model `role` uses: its own, else the generator."""
    return own_model(spec, role) or spec.generator


def role_usage(spec: Spec, counters: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """Per role that sent requests: its model, where it is set, and the requests and tokens it
    was paid (from the stages' `<role>_requests`, `<role>_prompt_tokens`, ... counters)."""
    usage: dict[str, dict[str, Any]] = {}
    for role in ROLES:
        requests = counters.get(f"{role}_requests", 0)
        if not requests:
            continue
        model = role_model(spec, role)
        usage[role] = {
            "model": model.model or model.backend.value,
            "set_at": ROLE_FIELDS[role] if own_model(spec, role) else "generator",
            "requests": requests,
            "prompt_tokens": counters.get(f"{role}_prompt_tokens", 0),
            "completion_tokens": counters.get(f"{role}_completion_tokens", 0),
        }
    return usage
