"""kopf's options for replicas: kopf pauses every peer that sees another of the same priority,
so replicas of one Deployment (one command line) must not share one."""

from __future__ import annotations

import argparse

from codeinstruct.operator.main import operator_options


def args(peering: str | None, priority: int | None = None) -> argparse.Namespace:
    return argparse.Namespace(standalone=False, peering=peering, priority=priority, liveness=None)


def test_replicas_with_one_command_line_draw_distinct_priorities() -> None:
    drawn = {operator_options(args("codeinstruct"), [])["priority"] for _ in range(20)}
    assert len(drawn) == 20 and all(isinstance(p, int) and p > 0 for p in drawn)


def test_an_explicit_priority_is_kept_and_no_peering_needs_none() -> None:
    assert operator_options(args("codeinstruct", 7), [])["priority"] == 7
    options = operator_options(args(None), ["a", "b"])
    assert options["priority"] is None and options["peering_name"] is None
    assert options["namespaces"] == ["a", "b"] and options["clusterwide"] is False
