"""One operator replica in a process of its own, as each pod of the chart's Deployment is:
`python -m tests.helpers.operator_replica IDENTITY TICKS LIFETIME PRIORITY`.

It runs our kopf handlers with the options `codeinstruct operator --peering` gives a replica,
against the API server in `CODEINSTRUCT_API_SERVER`, and appends one line to the file TICKS for
every reconcile tick it makes (who acted, and how often). LIFETIME is the peering lifetime in
seconds: a short one lets a test see a killed replica's peering record expire. PRIORITY is
what `codeinstruct operator --peering` drew for it (the test draws them, to know the leader). A test stops a
replica the way a dead pod stops, by killing its process: no graceful kopf shutdown is awaited.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="operator_replica")
    parser.add_argument("identity")
    parser.add_argument("ticks")
    parser.add_argument("lifetime", type=int)
    parser.add_argument("priority", type=int)
    args = parser.parse_args(argv)

    import kopf
    from kopf._core.engines.peering import Identity

    import codeinstruct.operator.handlers as handlers
    from codeinstruct.operator.main import operator_options

    observe = handlers.observe
    ticks = open(args.ticks, "a", buffering=1)  # noqa: SIM115 (open while the process lives)

    def recording_observe(*call: Any, **kwargs: Any) -> Any:
        ticks.write(f"{args.identity}\n")
        return observe(*call, **kwargs)

    handlers.observe = recording_observe

    @kopf.on.startup()
    def short_peering_lifetime(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.peering.lifetime = args.lifetime

    replica = argparse.Namespace(
        standalone=False, peering="codeinstruct", priority=args.priority, liveness=None
    )
    options = operator_options(replica, list(handlers.SETTINGS.namespaces))
    asyncio.run(kopf.operator(**options, identity=Identity(args.identity)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
