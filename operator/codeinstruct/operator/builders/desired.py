"""Every child a dataset should own, by role: what `render` prints and what reconcile applies."""

from __future__ import annotations

from typing import Any

from codeinstruct.operator.builders import driver, sandbox, scoring, vllm
from codeinstruct.operator.builders.meta import Target
from codeinstruct.operator.stages import scoring_boundary


def desired_children(target: Target, rayjob: bool) -> dict[str, dict[str, Any]]:
    """The spec ConfigMap, the servers the method needs, the driver and, with `engine: ray`,
    the scoring child. The driver stops at the scoring boundary only when that child exists
    to run the rest; otherwise it runs the method to its last stage."""
    out: dict[str, dict[str, Any]] = {"spec": driver.config_map(target)}
    for server in vllm.servers(target):  # one per distinct in-cluster model
        out[server.suffix] = vllm.deployment(target, server)
        out[f"{server.suffix}-service"] = vllm.service(target, server)
        out[f"{server.suffix}-policy"] = vllm.network_policy(target, server)
        if target.settings.vllm_pdb:
            out[f"{server.suffix}-pdb"] = vllm.disruption_budget(target, server)
    if sandbox.wanted(target):
        out["sandbox"] = sandbox.deployment(target)
        out["sandbox-service"] = sandbox.service(target)
        out["sandbox-policy"] = sandbox.network_policy(target)
    boundary = scoring_boundary(target.stages)
    with_scoring = scoring.wanted(target, boundary)
    out["driver"] = driver.job(target, until=boundary if with_scoring else None)
    if with_scoring:
        out["scoring"] = scoring.manifest(target, rayjob)
        if rayjob:
            out["scoring-policy"] = scoring.network_policy(target)
    return out
