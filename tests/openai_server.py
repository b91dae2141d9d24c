"""A scriptable OpenAI-compatible server on loopback, with fault injection, for tests and bench.

It speaks the real protocol (`/v1/completions`, `/v1/chat/completions`, `/v1/embeddings`,
`/v1/models`); a `respond(kind, body)` function writes each answer. Embeddings are a bag of
hashed words (texts that share words are close), refused like the real API (no model, an empty
or non-text input: HTTP 400), and listed in reverse order, so a client must match by `index`. A seeded fraction of requests fails with one
of: HTTP 500, HTTP 429 with Retry-After, a hang that lasts until the client gives up (or
`hang_seconds`), a connection reset, truncated JSON, or an empty `choices` list. It records each
answered body and its headers, and counts the clients that hung up during a hang. Runs in a background thread (tests) or as a process
(`python tests/openai_server.py --port P --delay 0.01`, for benchmarks).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

FAULTS = ("http_500", "http_429", "timeout", "reset", "truncated", "empty_choices")
Answer = str | dict[str, Any]
Respond = Callable[[str, dict[str, Any]], Answer]


def echo(kind: str, body: dict[str, Any]) -> Answer:
    """The default answer: a fixed short text."""
    return "ok"


class FakeOpenAI:
    def __init__(
        self,
        respond: Respond = echo,
        *,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        delay: float = 0.0,
        hang_seconds: float = 5.0,
        retry_after: str = "0",
        port: int = 0,
    ) -> None:
        self.respond = respond
        self.fault_rate = fault_rate
        self.faults = faults
        self.delay = delay
        self.hang_seconds = hang_seconds
        self.retry_after = retry_after
        self.port = port
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # answered (ok) requests by kind
        self.injected: Counter[str] = Counter()  # faults injected by kind
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # request headers, in arrival order
        self.hung_up = 0  # clients that gave up during an injected hang
        self.in_flight = 0
        self.max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        return app

    # Background thread ------------------------------------------------------------------------

    def __enter__(self) -> FakeOpenAI:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake OpenAI server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = runner.addresses[0][1]
        self._ready.set()
        await self._stop.wait()
        await runner.cleanup()

    # Handlers ---------------------------------------------------------------------------------

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake", "object": "model"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._answer("completions", request)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._answer("chat", request)

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        problem = None
        if not isinstance(body.get("model"), str) or not body["model"]:
            problem = "you must provide a model parameter"
        elif not isinstance(texts, list) or not texts or len(texts) > 2048:
            problem = "'$.input' is invalid: a string or a list of 1 to 2048 strings"
        elif not all(isinstance(t, str) and t for t in texts):
            problem = "'$.input' is invalid: every input must be a non-empty string"
        if problem:
            return web.json_response({"error": {"message": problem}}, status=400)
        fault = self._pick_fault()
        if fault == "http_500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if fault == "http_429":
            headers = {"Retry-After": self.retry_after}
            return web.json_response({"error": {"message": "slow"}}, status=429, headers=headers)
        data = [
            {"object": "embedding", "index": i, "embedding": word_vector(t)}
            for i, t in enumerate(texts)
        ][::-1]
        payload = json.dumps({"object": "list", "data": data, "model": body["model"]}).encode()
        if fault in ("truncated", "reset", "timeout", "empty_choices"):
            payload = payload[: len(payload) // 2]
        else:
            with self._lock:
                self.requests["embeddings"] += 1
                self.bodies.append(body)
        return web.Response(body=payload, content_type="application/json")

    def _pick_fault(self) -> str | None:
        with self._lock:
            if self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.faults)
                self.injected[fault] += 1
                return fault
        return None

    async def _answer(self, kind: str, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            return await self._reply(kind, request)
        finally:
            self.in_flight -= 1

    async def _reply(self, kind: str, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.headers.append(dict(request.headers))
        body = await request.json()
        fault = self._pick_fault()
        if self.delay:
            await asyncio.sleep(self.delay)
        if fault in ("http_400", "http_401"):
            return web.json_response({"error": {"message": "no"}}, status=int(fault[-3:]))
        if fault == "http_500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if fault == "http_429":
            return web.json_response(
                {"error": {"message": "slow down"}},
                status=429,
                headers={"Retry-After": self.retry_after},
            )
        if fault == "timeout" and await self._hang(request):
            return web.Response(status=499)  # the client hung up: nobody reads this
        if fault == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        answers = [self.respond(kind, body) for _ in range(int(body.get("n") or 1))]
        payload = _payload(kind, body, answers)
        if fault == "empty_choices":
            payload["choices"] = []
        data = json.dumps(payload).encode()
        if fault == "truncated":
            data = data[: len(data) // 2]
        if fault is None:
            with self._lock:
                self.requests[kind] += 1
                self.bodies.append(body)
        return web.Response(body=data, content_type="application/json")

    async def _hang(self, request: web.Request) -> bool:
        """Hang until the client hangs up (True) or `hang_seconds` pass (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.hang_seconds
        while loop.time() < deadline:
            if request.transport is None or request.transport.is_closing():
                with self._lock:
                    self.hung_up += 1
                return True
            await asyncio.sleep(0.02)
        return False


EMBEDDING_DIM = 32


def word_vector(text: str) -> list[float]:
    """A deterministic, unnormalised bag-of-words vector of the text."""
    vector = [0.0] * EMBEDDING_DIM
    for word in text.lower().split():
        digest = hashlib.sha256(word.encode()).digest()
        vector[digest[0] % EMBEDDING_DIM] += 1.0 + digest[1] / 255
    return vector


def _payload(kind: str, body: dict[str, Any], answers: list[Answer]) -> dict[str, Any]:
    choices = []
    completion_tokens = 0
    for index, answer in enumerate(answers):
        text = answer if isinstance(answer, str) else str(answer.get("text", ""))
        completion_tokens += len(text.split())
        choice: dict[str, Any] = {"index": index, "finish_reason": "stop"}
        if kind == "chat":
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        choice["logprobs"] = answer.get("logprobs") if isinstance(answer, dict) else None
        choices.append(choice)
    prompt = body.get("prompt") or json.dumps(body.get("messages"))
    prompt_tokens = len(str(prompt).split())
    return {
        "id": f"cmpl-{time.monotonic_ns()}",
        "object": "chat.completion" if kind == "chat" else "text_completion",
        "model": body.get("model", "fake"),
        "choices": choices,
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    server = FakeOpenAI(delay=args.delay, port=args.port)
    web.run_app(server.app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
