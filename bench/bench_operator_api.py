"""API requests the operator makes per InstructionDataset, with N datasets in the emulated
cluster (kmock + our controllers, the chart's RBAC enforced, moto as S3), over a window:

- steady state while every dataset runs (driver Job created, servers up): target <= 1 request/s
  in total for 100 datasets;
- once every dataset has finished: target 0.

The reference, measured in the same run, is the operator reading each child with a GET on every
tick (no watch cache), which is what it did before children were indexed.

    python bench/bench_operator_api.py [--datasets 100] [--window 60] [--interval 10]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
NS = "data"
IDS = "codeinstruct.dev/v1alpha1/instructiondatasets"


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    from tests.helpers.servers import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update(
        {
            "S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret",
            "AWS_REGION": "us-east-1",
        }
    )
    time.sleep(3)
    return process, endpoint


def datasets(count: int) -> list[dict[str, Any]]:
    sample = yaml.safe_load(
        (REPO / "crds/samples/instructiondataset.selfcodealign.yaml").read_text()
    )
    out = []
    for i in range(count):
        body = copy.deepcopy(sample)
        body["metadata"] = {"name": f"ds-{i:03d}", "namespace": NS}
        body["spec"]["output"]["uri"] = "s3://bench/datasets"
        out.append(body)
    return out


def phases(cluster: Any) -> Counter[str]:
    return Counter((o.get("status") or {}).get("phase", "-") for o in cluster.items(IDS))


async def wait_for(cluster: Any, phase: str, count: int, timeout: float) -> None:
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if phases(cluster)[phase] == count:
            print(f"{count} datasets {phase} after {time.monotonic() - started:.0f} s")
            return
        await asyncio.sleep(1)
    raise SystemExit(f"only {phases(cluster)} after {timeout} s (wanted {count} {phase})")


async def measure(cluster: Any, window: float) -> Counter[tuple[str, str, str]]:
    cluster.k.requests.clear()
    await asyncio.sleep(window)
    return Counter(cluster.k.requests)


async def settle(cluster: Any, interval: float, limit: float = 600) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        cluster.k.requests.clear()
        await asyncio.sleep(interval * 2)
        if not any(p.startswith("instructiondatasets") for _, _, p in cluster.k.requests):
            return


def finish_all(cluster: Any, bodies: list[dict[str, Any]]) -> None:
    from codeinstruct.operator.stages import stage_names
    from codeinstruct.workers.ledger import Ledger, StageStats
    from codeinstruct.workers.runner import run_prefix
    from codeinstruct.workers.spec import parse_spec
    from codeinstruct.workers.store import open_store

    for body in bodies:
        dataset = parse_spec({**body, "metadata": {"name": body["metadata"]["name"]}})
        ledger = Ledger(open_store(dataset.spec.output.uri), run_prefix(dataset))
        for stage in stage_names(dataset.spec) or []:
            stats = StageStats(records_in=1, records_out=1)
            ledger.commit(stage, 0, [{"id": stage}], stats)
            ledger.complete(stage, 1, stats)
        ledger.store.put(ledger.key("dataset", "README.md"), b"---\n---\n")
        cluster.finish_job(NS, f"{body['metadata']['name']}-driver")


def report(label: str, counts: Counter[tuple[str, str, str]], n: int, window: float) -> float:
    """Requests per second, watch (re)connections apart: those are the operator's ~8 streams
    (one per watched kind, reopened when the server ends them), not per dataset."""
    watches = sum(k for (_, action, _), k in counts.items() if action == "WATCH")
    total = sum(counts.values()) - watches
    rate = total / window
    print(
        f"{label}: {total} requests in {window:.0f} s = {rate:.2f}/s in total, "
        f"{total / n / (window / 60):.2f} per dataset per minute "
        f"(+ {watches} watch reconnections, operator-wide)"
    )
    for (method, action, plural), k in counts.most_common(6):
        if action != "WATCH":
            print(f"    {k:6d}  {method} {action} {plural}")
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=int, default=100)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=10.0)
    args = parser.parse_args()
    os.environ["CODEINSTRUCT_INTERVAL"] = str(args.interval)
    moto, _ = start_moto()
    import dataclasses

    import kopf

    import codeinstruct.operator.handlers as handlers
    from tests.helpers.kube_cluster import emulated_cluster
    from tests.helpers.operator import setup_cluster

    try:
        async with emulated_cluster() as cluster:
            handlers.SETTINGS = dataclasses.replace(
                handlers.SETTINGS, api_server=cluster.url, metrics_port=0
            )
            setup_cluster(cluster, rayjob=False)
            bodies = datasets(args.datasets)
            from codeinstruct.workers.store import open_store

            open_store("s3://bench/datasets")  # the user's bucket: the operator never creates one
            for body in bodies:
                cluster.put(IDS, body)
            stop = asyncio.Event()
            operator = asyncio.create_task(
                kopf.operator(clusterwide=True, standalone=True, stop_flag=stop)
            )

            async def controllers() -> None:
                while True:
                    cluster.play_controllers()
                    await asyncio.sleep(2)

            playing = asyncio.create_task(controllers())
            await wait_for(cluster, "Generating", args.datasets, timeout=1200)
            await asyncio.sleep(args.interval * 2)  # every timer has ticked since
            n, w = args.datasets, args.window
            running = report("running (watch cache)", await measure(cluster, w), n, w)
            original = handlers.Cache.from_indexes
            handlers.Cache.from_indexes = classmethod(lambda cls, *a: None)  # type: ignore[assignment]
            reference = report("running (reference: GET per tick)", await measure(cluster, w), n, w)
            handlers.Cache.from_indexes = original  # type: ignore[method-assign]
            started = time.monotonic()
            finish_all(cluster, bodies)
            print(f"ledgers written in {time.monotonic() - started:.0f} s")
            await wait_for(cluster, "Succeeded", args.datasets, timeout=1200)
            # The last tick of each dataset (servers released, kopf's own bookkeeping) may come
            # a while after its phase on a loaded machine: wait until a quiet interval.
            started = time.monotonic()
            await settle(cluster, args.interval)
            print(f"settled in {time.monotonic() - started:.0f} s")
            finished = report("finished", await measure(cluster, w), n, w)
            ratio = reference / running if running else float("inf")
            print(
                f"running: {running:.2f} req/s (target <= 1), reference/ours = {ratio:.1f}x; "
                f"finished: {finished:.2f} req/s (target 0)"
            )
            assert not (cluster.k.authorizer and cluster.k.authorizer.denied), "RBAC refusals"
            playing.cancel()
            stop.set()
            await asyncio.wait_for(operator, timeout=30)
    finally:
        moto.terminate()


if __name__ == "__main__":
    asyncio.run(main())
