"""An async client for OpenAI-compatible servers (vLLM, llama.cpp): completions and chat.

Bounded concurrency, retries with exponential backoff and full jitter on 429 (honouring
Retry-After), 5xx, timeouts, connection resets, invalid JSON and empty choices. A request that
keeps failing comes back as an `InfraFailure` value, never as an exception: the stage drops that
record, and the runner leaves its shard uncommitted for the next run (`outages`). Only mistakes the user must fix (a wrong key, an unknown model) raise `UserError`.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, TypeVar

import aiohttp
from prometheus_client import Counter as MetricCounter
from prometheus_client import Histogram

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.llm.cache import CompletionCache
from codeinstruct.workers.retry import RetryPolicy, parse_retry_after

T = TypeVar("T")
Kind = Literal["completions", "chat"]

# The stage whose requests these are (metrics label); set by the stage that runs the requests.
current_stage: contextvars.ContextVar[str] = contextvars.ContextVar("llm_stage", default="")

REQUESTS = MetricCounter(
    "codeinstruct_llm_requests_total",
    "LLM HTTP requests by stage and verdict (ok, cached, or the fault that was retried).",
    ["stage", "verdict"],
)
LATENCY = Histogram(
    "codeinstruct_llm_request_seconds",
    "Seconds per LLM HTTP request (every try).",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
PROMPT_TOKENS = MetricCounter(
    "codeinstruct_llm_prompt_tokens_total",
    "Prompt tokens the server reported, by stage.",
    ["stage"],
)
COMPLETION_TOKENS = MetricCounter(
    "codeinstruct_llm_completion_tokens_total", "Completion tokens the server wrote.", ["stage"]
)


@dataclass(frozen=True)
class _StageMetrics:
    """A stage's series of what every answered request updates, looked up once per stage:
    `labels()` takes a lock and builds a key, four times per request otherwise."""

    ok: Any
    latency: Any
    prompt_tokens: Any
    completion_tokens: Any


@cache
def _stage_metrics(stage: str) -> _StageMetrics:
    return _StageMetrics(
        REQUESTS.labels(stage, "ok"),
        LATENCY.labels(stage),
        PROMPT_TOKENS.labels(stage),
        COMPLETION_TOKENS.labels(stage),
    )


@dataclass(frozen=True)
class Completion:
    """What the server answered: one text per choice, their logprobs (when asked), usage."""

    texts: list[str]
    logprobs: list[Any] = field(default_factory=list)
    finish_reasons: list[str | None] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    faults: Mapping[str, int] = field(default_factory=dict)
    ok: bool = field(default=True, init=False)


@dataclass(frozen=True)
class InfraFailure:
    """A request that failed for good: `reason` is the drop reason for the record."""

    reason: str
    detail: str
    attempts: int
    faults: Mapping[str, int] = field(default_factory=dict)
    ok: bool = field(default=False, init=False)
    texts: list[str] = field(default_factory=list, init=False)


LLMResult = Completion | InfraFailure


class _Fault(Exception):
    """A retryable failure of one try; `kind` is its counter name."""

    def __init__(self, kind: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.kind = kind
        self.retry_after = retry_after


class _Rejected(Exception):
    """The server refused the request itself (400, 413, 422): retrying cannot help."""


def parse_response(kind: Kind, body: bytes) -> Completion:
    """A Completion from a response body; raises _Fault for invalid JSON or empty choices."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise _Fault("invalid_json", f"response is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise _Fault("invalid_json", "response is not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise _Fault("empty_choices", "response has no choices")
    texts: list[str] = []
    logprobs: list[Any] = []
    finish: list[str | None] = []
    for choice in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
        if not isinstance(choice, dict):
            raise _Fault("invalid_json", "a choice is not an object")
        if kind == "chat":
            message = choice.get("message")
            text = message.get("content") if isinstance(message, dict) else None
        else:
            text = choice.get("text")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise _Fault("invalid_json", "a choice has no text")
        texts.append(text)
        logprobs.append(choice.get("logprobs"))
        finish.append(choice.get("finish_reason"))
    usage = data.get("usage")
    if not isinstance(usage, dict):
        usage = {}
    return Completion(
        texts=texts,
        logprobs=logprobs,
        finish_reasons=finish,
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


def merge(parts: Sequence[LLMResult]) -> LLMResult:
    """One result from the results of `n` single-sample requests (any failure fails all)."""
    faults: Counter[str] = Counter()
    for part in parts:
        faults.update(part.faults)
    for part in parts:
        if isinstance(part, InfraFailure):
            return InfraFailure(part.reason, part.detail, part.attempts, dict(faults))
    done = [p for p in parts if isinstance(p, Completion)]
    return Completion(
        texts=[t for p in done for t in p.texts],
        logprobs=[lp for p in done for lp in p.logprobs],
        finish_reasons=[f for p in done for f in p.finish_reasons],
        prompt_tokens=sum(p.prompt_tokens for p in done),
        completion_tokens=sum(p.completion_tokens for p in done),
        cached=all(p.cached for p in done),
        faults=dict(faults),
    )


class LLMClient:
    """One OpenAI-compatible endpoint. `run(coroutine)` runs on the client's own event loop (a
    background thread), so shards run from several threads at once share one session and one
    bound of `concurrency` requests in flight; `close()` stops it. `async with` uses the caller's
    loop instead."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        concurrency: int = 64,
        timeout: float = 600.0,
        retry: RetryPolicy | None = None,
        cache: CompletionCache | None = None,
        native_n: bool = True,
        cache_model: str | None = None,
        gone: Callable[[], str | None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.concurrency = concurrency
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.cache = cache
        self.native_n = native_n
        self.cache_model = cache_model or model
        # Why the server is gone for good (the embedded server's death), asked on a connection
        # fault: such a request fails at once with that reason instead of being retried.
        self.gone = gone
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._rng = random.Random()
        self._session: aiohttp.ClientSession | None = None
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: asyncio.AbstractEventLoop | None = None
        self._background_thread: threading.Thread | None = None
        self._background_lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return f"LLMClient({self.base_url!r}, model={self.model!r})"

    def run(self, coroutine: Awaitable[T]) -> T:
        """Run `coroutine` on the client's event loop and wait for it; thread-safe, and calls
        from several threads share the session and its `concurrency` slots."""

        async def main() -> T:
            self._ensure_session()
            return await coroutine

        return asyncio.run_coroutine_threadsafe(main(), self._background_loop()).result()

    def _background_loop(self) -> asyncio.AbstractEventLoop:
        with self._background_lock:
            if self._background is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="llm-client", daemon=True)
                thread.start()
                self._background, self._background_thread = loop, thread
            return self._background

    def close(self) -> None:
        """Cancel the requests still in flight (those of shards a stopped run abandoned: their
        `run` raises `CancelledError`), close the session and stop the client's event loop (if
        `run` started one)."""
        with self._background_lock:
            loop, thread = self._background, self._background_thread
            self._background = self._background_thread = None
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    async def _shutdown(self) -> None:
        """On the client's own loop: every other task is the client's, cancel and await them
        (a request retried after the session closed would fail with a traceback), then close."""
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.aclose()

    async def __aenter__(self) -> LLMClient:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = self._slots = self._loop = None

    def _ensure_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.concurrency, limit_per_host=0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )
            self._slots = asyncio.Semaphore(self.concurrency)
            self._loop = loop
        return self._session

    async def complete(self, prompt: str, **params: Any) -> LLMResult:
        """POST /completions with `prompt` and OpenAI parameters (max_tokens, stop, seed, n, ...)."""
        return await self._generate("completions", {"prompt": prompt}, params)

    async def chat(self, messages: Sequence[Mapping[str, str]], **params: Any) -> LLMResult:
        """POST /chat/completions with `messages` and OpenAI parameters."""
        return await self._generate("chat", {"messages": [dict(m) for m in messages]}, params)

    async def _generate(
        self, kind: Kind, payload: dict[str, Any], params: dict[str, Any]
    ) -> LLMResult:
        params = {k: v for k, v in params.items() if v is not None}
        n = int(params.pop("n", 1))
        if n > 1 and not self.native_n:
            seed = params.pop("seed", None)
            parts = await asyncio.gather(
                *(
                    self._cached(kind, {**payload, **params, "seed": _nth_seed(seed, i)}, i)
                    for i in range(n)
                )
            )
            return merge(parts)
        if n > 1:
            params["n"] = n
        return await self._cached(kind, {**payload, **params})

    async def _cached(self, kind: Kind, body: dict[str, Any], sample: int = 0) -> LLMResult:
        key = None
        if self.cache is not None:
            key = self.cache.key(self.cache_model, kind, body, sample)
            hit = await self.cache.get(key)
            if hit is not None:
                REQUESTS.labels(current_stage.get(), "cached").inc()
                return hit
        result = await self._request(kind, {"model": self.model, **body})
        if key is not None and self.cache is not None and isinstance(result, Completion):
            await self.cache.put(key, result)
        return result

    async def _request(self, kind: Kind, body: dict[str, Any]) -> LLMResult:
        session = self._ensure_session()
        assert self._slots is not None
        url = f"{self.base_url}/{'chat/completions' if kind == 'chat' else 'completions'}"
        data = json.dumps(body).encode()
        stage = current_stage.get()
        faults: Counter[str] = Counter()
        detail = ""
        for attempt in range(self.retry.max_attempts):
            started = time.perf_counter()
            try:
                async with self._slots:
                    result = await self._post(session, kind, url, data)
            except _Fault as fault:
                faults[fault.kind] += 1
                detail = str(fault)
                REQUESTS.labels(stage, fault.kind).inc()
                LATENCY.labels(stage).observe(time.perf_counter() - started)
                gone = self.gone() if fault.kind == "connection" and self.gone else None
                if gone:
                    return InfraFailure("llm_infra_error", gone, attempt + 1, dict(faults))
                if attempt + 1 < self.retry.max_attempts:
                    await asyncio.sleep(self.retry.delay(attempt, fault.retry_after, self._rng))
                continue
            except _Rejected as rejected:
                REQUESTS.labels(stage, "rejected").inc()
                return InfraFailure("llm_request_rejected", str(rejected), attempt + 1, faults)
            metrics = _stage_metrics(stage)
            metrics.ok.inc()
            metrics.latency.observe(time.perf_counter() - started)
            metrics.prompt_tokens.inc(result.prompt_tokens)
            metrics.completion_tokens.inc(result.completion_tokens)
            return Completion(
                texts=result.texts,
                logprobs=result.logprobs,
                finish_reasons=result.finish_reasons,
                prompt_tokens=result.prompt_tokens,
                completion_tokens=result.completion_tokens,
                faults=dict(faults),
            )
        return InfraFailure("llm_infra_error", detail, self.retry.max_attempts, dict(faults))

    async def _post(
        self, session: aiohttp.ClientSession, kind: Kind, url: str, data: bytes
    ) -> Completion:
        try:
            async with session.post(url, data=data) as response:
                body = await response.read()
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise _Fault("timeout", f"no answer within {self.timeout:g} s") from None
        except aiohttp.ClientPayloadError as error:
            raise _Fault("truncated", f"truncated response: {error}") from None
        except (aiohttp.ClientError, ConnectionError) as error:
            raise _Fault("connection", f"{type(error).__name__}: {error}") from None
        if status == 200:
            return parse_response(kind, body)
        text = body[:300].decode("utf-8", "replace")
        if status == 429:
            raise _Fault("http_429", f"HTTP 429: {text}", parse_retry_after(retry_after))
        if status >= 500 or status == 408:
            raise _Fault(f"http_{status}", f"HTTP {status}: {text}", parse_retry_after(retry_after))
        if status in (401, 403):
            raise UserError(
                f"generator.endpoint {self.base_url}: HTTP {status} (not authorized); put the API "
                "key in the environment variable named by generator.apiKeyEnv"
            )
        if status == 404:
            raise UserError(
                f"generator.endpoint {self.base_url}: HTTP 404 for {url} (model "
                f"{self.model!r}): check generator.endpoint (it ends in /v1) and generator.model"
            )
        raise _Rejected(f"HTTP {status}: {text}")


def _nth_seed(seed: int | None, index: int) -> int | None:
    return None if seed is None else seed + index
