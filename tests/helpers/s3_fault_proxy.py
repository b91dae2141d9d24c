"""An S3 fault proxy: an aiohttp reverse proxy in front of a real S3 server (moto), for tests.

For a seeded fraction of the requests it injects one fault:
- `http_500` / `http_503`: an S3 error answer (`InternalError` / `SlowDown`) instead of forwarding;
- `reset`: the connection is dropped before any answer;
- `truncate`: the request is forwarded, then the answer's body is cut in half (the headers
  promise the full length) and the connection dropped;
- `stall`: the answer is held for `stall_seconds` (longer than the client's read timeout).

It counts every request by method and by key (`requests`, `keys`), so tests can count what a
resume reads. Faults can be limited to some methods, to after the first `after` requests, or to at
most `max_faults`; `outage` answers 503 to everything while it is set.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

import aiohttp
from aiohttp import web

FAULTS = ("http_500", "http_503", "reset", "truncate", "stall")
# Hop-by-hop headers, and those aiohttp recomputes itself.
_SKIPPED = {"transfer-encoding", "connection", "keep-alive", "content-length", "content-encoding"}

_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
    "<Message>injected fault</Message><RequestId>fault</RequestId></Error>"
)


class S3FaultProxy:
    def __init__(
        self,
        upstream: str,
        *,
        rates: dict[str, float] | None = None,
        seed: int = 0,
        methods: Iterable[str] | None = None,
        after: int = 0,
        max_faults: int | None = None,
        stall_seconds: float = 5.0,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.rates = dict(rates or {})
        unknown = set(self.rates) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults {sorted(unknown)}; choose from {FAULTS}")
        self.methods = {m.upper() for m in methods} if methods else None
        self.after = after
        self.max_faults = max_faults
        self.stall_seconds = stall_seconds
        self.outage = False
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # by method
        self.keys: Counter[tuple[str, str]] = Counter()  # by (method, object key)
        self.injected: Counter[str] = Counter()
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="s3-fault-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> S3FaultProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the S3 fault proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.keys.clear()

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        app = web.Application(client_max_size=1 << 30)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
            self._session = session
            self._ready.set()
            await self._stop.wait()
        await runner.cleanup()

    def _pick(self, method: str) -> str | None:
        with self._lock:
            total = sum(self.requests.values())
            if self.outage:
                return "http_503"
            if self.methods is not None and method not in self.methods:
                return None
            if total <= self.after:
                return None
            if self.max_faults is not None and sum(self.injected.values()) >= self.max_faults:
                return None
            roll = self._rng.random()
            for fault, rate in sorted(self.rates.items()):
                if roll < rate:
                    self.injected[fault] += 1
                    return fault
                roll -= rate
            return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        key = unquote(request.path).lstrip("/")
        with self._lock:
            self.requests[request.method] += 1
            self.keys[(request.method, key)] += 1
        fault = self._pick(request.method)
        body = await request.read()
        if fault in ("http_500", "http_503"):
            code, status = ("InternalError", 500) if fault == "http_500" else ("SlowDown", 503)
            return web.Response(
                status=status, text=_ERROR.format(code=code), content_type="application/xml"
            )
        if fault == "reset":
            return _drop(request)
        if fault == "stall":
            await asyncio.sleep(self.stall_seconds)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _SKIPPED}
        async with self._session.request(
            request.method,
            self.upstream + request.path_qs,
            data=body,
            headers=headers,
            skip_auto_headers=("Content-Type", "User-Agent", "Accept-Encoding"),
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            answer = web.StreamResponse(status=upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in _SKIPPED:
                    answer.headers.add(name, value)
            if request.method == "HEAD":
                length = upstream.headers.get("Content-Length")
                if length is not None:
                    answer.headers["Content-Length"] = length
                await answer.prepare(request)
                return answer
            answer.content_length = len(payload)
            await answer.prepare(request)
            if fault == "truncate" and len(payload) > 1:
                await answer.write(payload[: len(payload) // 2])
                return _drop(request)
            await answer.write(payload)
            await answer.write_eof()
            return answer


def _drop(request: web.Request) -> Any:
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise ConnectionResetError("injected fault")
