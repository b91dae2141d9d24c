"""Shard scheduling against a loopback OpenAI-compatible server with C slots and seeded
lognormal latencies: an LLM stage (SelfCodeAlign's concepts) over N records, in shards of 100
and of 1,000, for C = 64 and C = 256.

    python bench/bench_pipeline.py                      # 10,000 records, median 0.1 s, sigma 1
    python bench/bench_pipeline.py --records 2000 --slots 64 --shards 100

Each run prints its wall time over the list-scheduling bound, Σ latency / C + longest latency
(both measured on the server during that run), for one shard at a time (the scheduling the
runner had before issue 15: a shard's slowest answer holds the next shard back) and for the
window of shards in progress, in the same process against the same server. A request's latency
is drawn from its own seed, so both schedulers see the same latencies. Target: ≤ 1.2. It also
prints the runner's CPU seconds (all its threads) per request: less sensitive to the machine's
load than the ratio, and what decides the ratio once one core cannot keep up with the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiohttp import web

from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.runner import Runner
from codeinstruct.workers.services import Services
from codeinstruct.workers.shard_window import window_width
from codeinstruct.workers.stages.base import SourceStage, StageContext, StageKind, StageOutput
from codeinstruct.workers.stages.concepts import ExtractConcepts

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import make_dataset
from tests.helpers.window_model import makespan


class SlotServer:
    """/v1/chat/completions with `slots` requests served at once, each sleeping a lognormal
    latency drawn from the request's seed; GET /stats gives the latencies served since the last
    POST /reset, and the most requests in flight. Its own process, as a real server is."""

    def __init__(self, slots: int, median: float, sigma: float) -> None:
        self.slots = slots
        command = [sys.executable, __file__, "--serve", str(slots), str(median), str(sigma)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(f"{self.url}/{path}", method=method)
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self._call("POST", "reset")

    def stats(self) -> tuple[list[float], int, float]:
        """The latencies served, the most requests in flight, the server's CPU seconds."""
        stats = self._call("GET", "stats")
        return stats["latencies"], stats["max_in_flight"], stats["cpu"]

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def serve(slots: int, median: float, sigma: float) -> None:
    mu = math.log(median)
    state: dict[str, Any] = {"latencies": [], "in_flight": 0, "max_in_flight": 0, "cpu": 0.0}

    async def main() -> None:
        gate = asyncio.Semaphore(slots)

        async def chat(request: web.Request) -> web.Response:
            body = await request.json()
            latency = random.Random(body.get("seed")).lognormvariate(mu, sigma)
            async with gate:
                state["in_flight"] += 1
                state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
                await asyncio.sleep(latency)
                state["in_flight"] -= 1
            state["latencies"].append(latency)
            message = {"role": "assistant", "content": "<concepts>loops, list comprehension"}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 10, "completion_tokens": 5}
            return web.json_response({"choices": [choice], "usage": usage})

        async def stats(request: web.Request) -> web.Response:
            return web.json_response({**state, "cpu": time.process_time() - state["cpu"]})

        async def reset(request: web.Request) -> web.Response:
            state.update(latencies=[], max_in_flight=0, cpu=time.process_time())
            return web.json_response({})

        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_get("/v1/stats", stats)
        app.router.add_post("/v1/reset", reset)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        print(runner.addresses[0][1], flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


class SyntheticSeeds(SourceStage):
    """`records` seed functions in shards of `size`."""

    kind = StageKind.PREPARE
    name = "seeds"
    outputs = ("seed",)

    def __init__(self, records: int, size: int) -> None:
        self.records, self.size = records, size

    def partitions(self, ctx: StageContext) -> list[Any]:
        return [[s, min(s + self.size, self.records)] for s in range(0, self.records, self.size)]

    def read(self, partition: Any, ctx: StageContext) -> Iterator[StageOutput]:
        for i in range(partition[0], partition[1]):
            record: Record = {"id": content_id("seed", str(i)), "meta": {}}
            yield {**record, "seed": f"def f{i}(values):\n    return [v + {i} for v in values]\n"}


class OneShardAtATime(ExtractConcepts):
    """The scheduling before the window: the next shard starts after this one's last answer."""

    def capacity(self, services: Services) -> int:
        return 1


def measure(server: SlotServer, args: argparse.Namespace, size: int, window: bool) -> float:
    with tempfile.TemporaryDirectory() as out:
        dataset = make_dataset(
            generator={
                "backend": "openai",
                "endpoint": server.url,
                "model": "bench",
                "concurrency": server.slots,
                "cache": False,
            },
            output={"uri": out, "shardSize": size},
        )
        sampling = dataset.spec.generator.sampling
        stage = ExtractConcepts(sampling) if window else OneShardAtATime(sampling)
        stages = [SyntheticSeeds(args.records, size), stage]
        Runner(dataset, progress=False).run_stages(stages, until="seeds")
        server.reset()
        cpu = time.process_time()
        report = Runner(dataset, progress=False).run_stages(stages)
        cpu = time.process_time() - cpu
    wall = report.stages["concepts"].seconds
    latencies, max_in_flight, server_cpu = server.stats()
    bound = sum(latencies) / server.slots + max(latencies)
    assert len(latencies) == args.records, "one request per record"
    name = "window" if window else "one shard at a time"
    random.Random(0).shuffle(latencies)  # served in the order they ended: any fixed order will do
    width = window_width(server.slots, size) if window else 1  # capacity: generator.concurrency
    model = makespan(latencies, size, server.slots, width)
    print(
        f"  C={server.slots:<4} shard={size:<5} {name:<20} wall {wall:7.1f}s  bound {bound:6.1f}s"
        f"  ratio {wall / bound:5.2f} (model, no CPU: {model / bound:4.2f})  max in flight"
        f" {max_in_flight}  runner cpu {cpu:5.1f}s ({1000 * cpu / len(latencies):.2f}"
        f" ms/request)  server cpu {server_cpu:5.1f}s",
        flush=True,
    )
    return wall / bound


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--slots", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--shards", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--median", type=float, default=0.1, help="median latency, seconds")
    parser.add_argument("--sigma", type=float, default=1.0, help="lognormal sigma")
    parser.add_argument("--only-window", action="store_true", help="skip one shard at a time")
    args = parser.parse_args()
    print(f"{args.records} records, lognormal latency median {args.median}s sigma {args.sigma}")
    for slots in args.slots:
        server = SlotServer(slots, args.median, args.sigma)
        for size in args.shards:
            ratio = measure(server, args, size, window=True)
            if not args.only_window:
                before = measure(server, args, size, window=False)
                print(f"  -> window is {before / ratio:.2f}x faster (target ratio <= 1.2)")
        server.close()


if __name__ == "__main__":
    main()
