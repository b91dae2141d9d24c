"""`codeinstruct operator` (run the kopf operator) and `codeinstruct render` (dry run)."""

from __future__ import annotations

import argparse
import random
from typing import Any


def operator_options(args: argparse.Namespace, namespaces: list[str]) -> dict[str, Any]:
    """kopf.operator's arguments. Replicas of one Deployment cannot be given distinct
    priorities, and kopf pauses *every* peer that sees another of the same priority: so
    without --priority each replica draws one at random (a tie is a ~1e-9 chance)."""
    priority = args.priority
    if priority is None and args.peering:
        priority = random.SystemRandom().randint(1, 2**31 - 1)
    return {
        "clusterwide": not namespaces,
        "namespaces": namespaces,
        "standalone": args.standalone,
        "peering_name": args.peering,
        "priority": priority,
        "liveness_endpoint": args.liveness,
    }


def cmd_operator(args: argparse.Namespace) -> int:
    import asyncio

    import kopf

    from codeinstruct.operator import handlers

    namespaces = list(handlers.SETTINGS.namespaces)
    asyncio.run(kopf.operator(**operator_options(args, namespaces)))
    return 0


def render(path: str, namespace: str, rayjob: bool) -> str:
    import yaml

    from codeinstruct.operator.builders.desired import desired_children
    from codeinstruct.operator.builders.meta import Target
    from codeinstruct.operator.settings import Settings
    from codeinstruct.workers.spec import load_spec

    dataset = load_spec(path)
    namespace = dataset.metadata.namespace or namespace
    target = Target(dataset, namespace, Settings.from_env())
    manifests = desired_children(target, rayjob).values()
    return yaml.dump_all(list(manifests), Dumper=_manifest_dumper(), sort_keys=False)


def _literal(dumper: Any, text: str) -> Any:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


def _manifest_dumper() -> Any:
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    Dumper.add_representer(str, _literal)
    return Dumper


def cmd_render(args: argparse.Namespace) -> int:
    print(render(args.spec, args.namespace, args.rayjob), end="")
    return 0


def add_parser(commands: Any) -> None:
    operator = commands.add_parser("operator", help="run the Kubernetes operator (kopf)")
    operator.add_argument("--standalone", action="store_true", help="no peering (one replica)")
    operator.add_argument(
        "--peering",
        default=None,
        metavar="NAME",
        help="kopf peering object: of several replicas only the one with the highest priority "
        "(or the first) reconciles, the others wait",
    )
    operator.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority (the highest reconciles); default: drawn at random per replica",
    )
    operator.add_argument(
        "--liveness", default="http://0.0.0.0:8081/healthz", help="kopf liveness endpoint"
    )
    operator.set_defaults(handler=cmd_operator)
    render_cmd = commands.add_parser(
        "render", help="print the Kubernetes objects the operator would create for a spec"
    )
    render_cmd.add_argument("spec", metavar="SPEC.yaml")
    render_cmd.add_argument("--namespace", "-n", default="default")
    render_cmd.add_argument(
        "--rayjob", action="store_true", help="as if the KubeRay RayJob CRD were installed"
    )
    render_cmd.set_defaults(handler=cmd_render)
