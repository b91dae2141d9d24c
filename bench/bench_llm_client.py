"""LLM client capacity and embedded-server throughput.

1. Client capacity: requests/s and client CPU per request against a local OpenAI-compatible
   server (a separate process) that answers after a fixed delay; the reference, measured in the
   same run against the same server, is a bare aiohttp loop (post + read, nothing else).
2. Tokens/s end to end through the client against the embedded llama.cpp server, against the
   same requests sent one by one with urllib (reference).

    python bench/bench_llm_client.py [--requests 5000] [--concurrency 64] [--delay 0.01]
                                     [--no-embedded]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from codeinstruct.workers.llm.client import LLMClient, RetryPolicy  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_fake(delay: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "tests/openai_server.py", "--port", str(port), "--delay", str(delay)],
        cwd=REPO,
    )
    url = f"http://127.0.0.1:{port}/v1"
    for _ in range(200):
        try:
            urllib.request.urlopen(f"{url}/models", timeout=1).close()
            return process, url
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("fake server did not start")


async def bare_loop(url: str, requests: int, concurrency: int) -> None:
    slots = asyncio.Semaphore(concurrency)
    body = json.dumps({"model": "m", "prompt": "x", "max_tokens": 1}).encode()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> None:
            async with slots, session.post(f"{url}/completions", data=body) as response:
                await response.read()

        await asyncio.gather(*(one() for _ in range(requests)))


def measure(run: object, requests: int) -> tuple[float, float]:
    """(requests/s, client CPU ms per request) of calling `run()`."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()  # type: ignore[operator]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return requests / wall, cpu / requests * 1000


def capacity(args: argparse.Namespace) -> None:
    process, url = start_fake(args.delay)
    try:
        client = LLMClient(url, "m", concurrency=args.concurrency, retry=RetryPolicy())

        async def ours() -> None:
            results = await asyncio.gather(
                *(client.complete("x", max_tokens=1) for _ in range(args.requests))
            )
            assert all(r.ok for r in results)

        # Warm up both paths once (connections, imports).
        asyncio.run(bare_loop(url, 200, args.concurrency))
        client.run(ours())
        ref_rate, ref_cpu = measure(
            lambda: asyncio.run(bare_loop(url, args.requests, args.concurrency)), args.requests
        )
        rate, cpu = measure(lambda: client.run(ours()), args.requests)
    finally:
        process.terminate()
        process.wait()
    ideal = args.concurrency / args.delay if args.delay else float("inf")
    print(
        f"client capacity: {args.requests} requests, concurrency {args.concurrency}, "
        f"server delay {args.delay * 1000:g} ms (ideal {ideal:,.0f} req/s)"
    )
    print(f"  bare aiohttp (reference): {ref_rate:8,.0f} req/s  {ref_cpu:.3f} ms CPU/request")
    print(f"  LLMClient               : {rate:8,.0f} req/s  {cpu:.3f} ms CPU/request")
    print(
        f"  ratio LLMClient/reference: {rate / ref_rate:.2f}x throughput, "
        f"{cpu / ref_cpu:.2f}x CPU per request; target >= 1,000 req/s: "
        f"{'met' if rate >= 1000 else 'NOT met'}"
    )


def embedded(args: argparse.Namespace) -> None:
    from codeinstruct.workers.llm.embedded import start_embedded
    from codeinstruct.workers.spec import Generator

    messages = [{"role": "user", "content": "Write a Python function that reverses a list."}]
    params = {"max_tokens": args.tokens, "temperature": 0.7, "seed": 1}
    with ExitStack() as stack:
        started = time.perf_counter()
        server = start_embedded(Generator(), stack)
        startup = time.perf_counter() - started

        def direct() -> int:
            tokens = 0
            for i in range(args.embedded_requests):
                body = json.dumps({"messages": messages, **params, "seed": i}).encode()
                request = urllib.request.Request(
                    f"{server.base_url}/chat/completions",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=600) as response:
                    tokens += json.loads(response.read())["usage"]["completion_tokens"]
            return tokens

        client = LLMClient(server.base_url, str(server.model_path), concurrency=2, native_n=False)

        async def through_client() -> int:
            results = await asyncio.gather(
                *(
                    client.chat(messages, **{**params, "seed": i})
                    for i in range(args.embedded_requests)
                )
            )
            return sum(r.completion_tokens for r in results if r.ok)  # type: ignore[union-attr]

        # Interleaved and repeated: the machine is shared, so take the best of each.
        ref_rate = rate = 0.0
        ref_tokens = tokens = 0
        for _ in range(args.rounds):
            t = time.perf_counter()
            ref_tokens = direct()
            ref_rate = max(ref_rate, ref_tokens / (time.perf_counter() - t))
            t = time.perf_counter()
            tokens = client.run(through_client())
            rate = max(rate, tokens / (time.perf_counter() - t))
    print(
        f"embedded llama.cpp (SmolLM2-135M Q4_1): up in {startup:.1f} s; "
        f"{args.embedded_requests} chat requests of <= {args.tokens} tokens"
    )
    print(
        f"  urllib one by one (reference): {ref_rate:6.1f} tokens/s ({ref_tokens} tokens), best of {args.rounds}"
    )
    print(
        f"  LLMClient, concurrency 2     : {rate:6.1f} tokens/s ({tokens} tokens), best of {args.rounds}"
    )
    print(f"  ratio: {rate / ref_rate:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.01)
    parser.add_argument("--no-embedded", action="store_true")
    parser.add_argument("--embedded-requests", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    capacity(args)
    if not args.no_embedded:
        embedded(args)


if __name__ == "__main__":
    main()
