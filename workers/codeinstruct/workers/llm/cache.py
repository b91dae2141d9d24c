"""Completions kept in the run's storage, keyed by (model, request, parameters, seed).

One small object per completion under `<run>/cache/llm/<2 hex>/<sha256>.json`: atomic writes,
nothing appended to a shared file, so a resumed run (same signature, same prefix) finds what it
already paid for. Failures are never cached. A read that fails (storage unreachable after its
retries) is a cache miss: the request is paid again rather than the run stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codeinstruct.workers.llm.client import Completion
    from codeinstruct.workers.store import Store

log = logging.getLogger(__name__)


class CompletionCache:
    def __init__(self, store: Store, prefix: str) -> None:
        self.store = store
        self.prefix = prefix.rstrip("/")

    def key(self, model: str, kind: str, body: dict[str, Any], sample: int = 0) -> str:
        """The storage key of a request: a hash of everything that shapes the answer."""
        blob = json.dumps(
            {"model": model, "kind": kind, "body": body, "sample": sample},
            sort_keys=True,
            ensure_ascii=False,
        ).encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(blob).hexdigest()
        return f"{self.prefix}/{digest[:2]}/{digest}.json"

    async def get(self, key: str) -> Completion | None:
        from codeinstruct.workers.store import StoreError

        try:
            data = await asyncio.to_thread(self.store.get, key)
        except KeyError:
            return None
        except StoreError as error:
            log.warning("LLM cache read failed, counted as a miss: %s", error)
            return None
        return decode(data)

    async def put(self, key: str, completion: Completion) -> None:
        await asyncio.to_thread(self.store.put, key, encode(completion))


def encode(completion: Completion) -> bytes:
    return json.dumps(
        {
            "texts": completion.texts,
            "logprobs": completion.logprobs,
            "finish_reasons": completion.finish_reasons,
            "prompt_tokens": completion.prompt_tokens,
            "completion_tokens": completion.completion_tokens,
        },
        ensure_ascii=False,
    ).encode()


def decode(data: bytes) -> Completion | None:
    """The cached completion, or None for an unreadable object (it is fetched again)."""
    from codeinstruct.workers.llm.client import Completion

    try:
        raw = json.loads(data)
        return Completion(
            texts=list(raw["texts"]),
            logprobs=list(raw.get("logprobs") or []),
            finish_reasons=list(raw.get("finish_reasons") or []),
            prompt_tokens=int(raw.get("prompt_tokens", 0)),
            completion_tokens=int(raw.get("completion_tokens", 0)),
            cached=True,
        )
    except (ValueError, KeyError, TypeError):
        return None
