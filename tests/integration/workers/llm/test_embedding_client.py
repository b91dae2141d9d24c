"""`scoring.embeddingBackend: openai`: the `/v1/embeddings` client against the scripted server
(strict like the real API, with faults) and against llama.cpp's embedding mode serving the
shipped SmolLM2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from codeinstruct.workers.ledger import Ledger
from codeinstruct.workers.llm.embedded import default_model_path
from codeinstruct.workers.llm.embedding_client import EmbeddingRequestError, OpenAIEmbedder
from codeinstruct.workers.retry import RetryPolicy
from codeinstruct.workers.services import Services
from codeinstruct.workers.stages.base import StageContext
from codeinstruct.workers.stages.embed import Embed
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.helpers.servers import free_port, wait_until_serving
from tests.openai_server import FakeOpenAI, word_vector

FAST = RetryPolicy(max_attempts=8, backoff_seconds=0.0)
TEXTS = [
    "sort a list of numbers",
    "sort a list of words",
    "parse a json file",
    "",
    "open a socket",
    "sort numbers fast",
    "read a csv file",
]


def test_batches_match_by_index_normalise_and_survive_faults() -> None:
    faults = ("http_500", "http_429", "truncated")
    with FakeOpenAI(fault_rate=0.3, faults=faults, seed=4) as server:
        embedder = OpenAIEmbedder(server.url, "fake-embed", batch_size=3, retry=FAST)
        try:
            vectors = embedder.encode(TEXTS)
        finally:
            embedder.close()
    assert server.injected, "faults were injected and retried through"
    assert server.requests["embeddings"] == 3, "7 texts in batches of 3"
    assert all(len(b["input"]) <= 3 and b["model"] == "fake-embed" for b in server.bodies)
    assert "" not in [t for b in server.bodies for t in b["input"]], "empty inputs are refused"
    assert vectors.shape == (7, 32) and vectors.dtype == np.float32
    nonzero = [i for i, t in enumerate(TEXTS) if t.strip()]
    assert np.allclose(np.linalg.norm(vectors[nonzero], axis=1), 1.0, atol=1e-5)
    for i in nonzero:  # the server lists data in reverse: rows still follow the input order
        expected = np.asarray(word_vector(TEXTS[i]), dtype=np.float32)
        assert np.allclose(vectors[i], expected / np.linalg.norm(expected), atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_a_refused_request_is_a_clear_error_not_a_retry() -> None:
    with FakeOpenAI() as server:
        embedder = OpenAIEmbedder(server.url, "", retry=FAST)
        try:
            with pytest.raises(EmbeddingRequestError, match=r"HTTP 400.*model parameter"):
                embedder.encode(["x"])
        finally:
            embedder.close()
    assert server.requests["embeddings"] == 0


def test_the_embed_stage_uses_the_endpoint(tmp_path: Path) -> None:
    with FakeOpenAI() as server:
        spec = make_dataset(
            method="xcoder",
            targetSize=2,
            scoring={
                "embeddingBackend": "openai",
                "embeddingEndpoint": server.url,
                "embeddingModel": "fake-embed",
            },
        ).spec
        records = [{"id": f"r{i}", "instruction": t or "x"} for i, t in enumerate(TEXTS)]
        with Services(spec, Ledger(LocalStore(tmp_path), "run")) as services:
            outputs = list(
                Embed(("instruction",), "fake-embed").run(records, StageContext(services, 1))
            )
    assert [o["embedding_ref"]["row"] for o in outputs] == list(range(7))
    assert server.requests["embeddings"] == 1


@pytest.mark.llm
@pytest.mark.slow
def test_llama_cpp_embedding_mode_with_smollm2() -> None:
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(default_model_path())]
    command += ["--host", "127.0.0.1", "--port", str(port), "--embedding", "true"]
    command += ["--n_ctx", "512", "--n_threads", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(port, process)
        embedder = OpenAIEmbedder(f"http://127.0.0.1:{port}/v1", "smollm2", batch_size=2)
        try:
            vectors = embedder.encode(
                ["def add(a, b): return a + b", "sort a list", "def add(a, b): return a + b"]
            )
        finally:
            embedder.close()
    finally:
        process.terminate()
        process.wait(30)
    assert vectors.shape[0] == 3 and vectors.shape[1] >= 64
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert np.allclose(vectors[0], vectors[2], atol=1e-4), "the same text, the same vector"
    assert not np.allclose(vectors[0], vectors[1], atol=1e-3)
