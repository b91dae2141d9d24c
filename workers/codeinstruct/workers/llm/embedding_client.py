"""An OpenAI-compatible `/v1/embeddings` client (`scoring.embeddingBackend: openai`): a cluster
embeds with an LLM served by vLLM, as XCoder embedded with LLaMA3-8B; llama.cpp serves the same
endpoint with `--embedding true`.

Texts go in batches of `scoring.batchSize`; a batch is retried under the one retry policy
(`retry.py`: 429 with Retry-After, 5xx, connection faults, malformed answers); a 4xx other than
429 is the request's own fault and fails at once with the server's message. The answer must
hold one vector per input, matched by `index` (never by position), all of one dimension; a
server without pooling (llama.cpp serving a decoder) answers a vector per token, and the last
token's is taken, as XCoder embeds with LLaMA3-8B's last token. Vectors are L2-normalised
(float32), as the local embedder's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.retry import RetryPolicy, parse_retry_after

Vectors = Any  # NDArray[np.float32]; kept loose to avoid importing embeddings (a cycle)


class EmbeddingRequestError(UserError):
    """The endpoint refused the request itself (a 4xx other than 429), or never answered."""


class _Retryable(Exception):
    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


def unit_rows(vectors: Any) -> Any:
    """Rows scaled to length 1 (a zero row stays zero)."""
    array = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return (array / np.where(norms > 0, norms, 1)).astype(np.float32)


def vectors_of(payload: Any, count: int) -> list[list[float]]:
    """The answer's vectors in input order, checked: one per input by `index`, one dimension."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise _Retryable(f"expected {count} embeddings, got {type(data).__name__}")
    rows: dict[int, list[float]] = {}
    for item in data:
        index = item.get("index") if isinstance(item, dict) else None
        vector = item.get("embedding") if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < count or index in rows:
            raise _Retryable(f"bad or repeated embedding index {index!r}")
        if isinstance(vector, list) and vector and isinstance(vector[0], list):
            # A server without pooling (llama.cpp on a decoder) answers one vector per token:
            # the last token's, as XCoder (deita's last-token embedding) takes it.
            vector = vector[-1]
        if not isinstance(vector, list) or not vector:
            raise _Retryable(f"embedding {index} is not a list of numbers")
        rows[index] = vector
    if len({len(v) for v in rows.values()}) != 1:
        raise _Retryable("embeddings of different dimensions in one answer")
    return [rows[i] for i in range(count)]


class OpenAIEmbedder:
    """Embeds through `POST {endpoint}/embeddings` with `model`."""

    def __init__(
        self,
        endpoint: str,
        model: str,
        batch_size: int = 64,
        retry: RetryPolicy | None = None,
        api_key: str | None = None,
        timeout: float = 120.0,
    ) -> None:
        self.url = endpoint.rstrip("/") + "/embeddings"
        self.model = model
        self.batch_size = batch_size
        self.retry = retry or RetryPolicy()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(timeout=timeout, headers=headers)
        self.rng = random.Random(0)
        self.requests = 0
        self.retries = 0
        self.dim = 0  # known after the first answer

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        rows: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            # An empty input is an error for the OpenAI API: send a space instead.
            batch = [t if t.strip() else " " for t in texts[start : start + self.batch_size]]
            rows.extend(self._batch(batch))
        vectors = unit_rows(rows)
        if self.dim and vectors.shape[1] != self.dim:
            raise EmbeddingRequestError(
                f"scoring.embeddingEndpoint: the model answered {vectors.shape[1]}-d vectors "
                f"after {self.dim}-d ones"
            )
        self.dim = int(vectors.shape[1])
        return vectors

    def _batch(self, batch: list[str]) -> list[list[float]]:
        last = ""
        for attempt in range(self.retry.max_attempts):
            try:
                self.requests += 1
                return self._post(batch)
            except _Retryable as fault:
                last = str(fault)
                if attempt + 1 < self.retry.max_attempts:
                    self.retries += 1
                    time.sleep(self.retry.delay(attempt, fault.retry_after, self.rng))
        raise EmbeddingRequestError(
            f"scoring.embeddingEndpoint: {self.url} failed {self.retry.max_attempts} times "
            f"(last: {last}); check that it serves embeddings for {self.model!r}"
        )

    def _post(self, batch: list[str]) -> list[list[float]]:
        try:
            response = self.http.post(self.url, json={"model": self.model, "input": batch})
        except httpx.HTTPError as error:
            raise _Retryable(f"{type(error).__name__}: {error}") from None
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _Retryable(f"HTTP {response.status_code}", retry_after)
        if response.status_code >= 400:
            raise EmbeddingRequestError(
                f"scoring.embeddingEndpoint: {self.url} refused the request "
                f"(HTTP {response.status_code}: {response.text[:300]})"
            )
        try:
            payload = response.json()
        except ValueError:
            raise _Retryable("the answer is not JSON") from None
        return vectors_of(payload, len(batch))

    def close(self) -> None:
        self.http.close()
