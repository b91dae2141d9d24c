"""Optional batch generation on GPU nodes: Ray Data's LLM processor with the vLLM engine.

An extra for clusters without a vLLM server: it needs `vllm` (CUDA only), so it is not in the
default install and not in CI. The stages use the HTTP client; this is for bulk jobs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from codeinstruct.workers.errors import UserError

Messages = Sequence[Mapping[str, str]]


def available() -> bool:
    """Whether vLLM (and so the Ray Data vLLM engine) can be used here."""
    return importlib.util.find_spec("vllm") is not None


def generate_batch(
    model: str,
    prompts: Sequence[Messages],
    sampling: Mapping[str, Any],
    *,
    batch_size: int = 64,
    replicas: int = 1,
) -> list[str]:
    """One generated text per chat prompt, in order, from `replicas` vLLM engines on Ray."""
    if not available():
        raise UserError(
            "the Ray Data batch path needs vllm (GPU): `pip install vllm`, or use "
            "generator.backend: openai with a vLLM server"
        )
    import ray.data
    from ray.data.llm import build_processor, vLLMEngineProcessorConfig

    config = vLLMEngineProcessorConfig(
        model_source=model, batch_size=batch_size, concurrency=replicas
    )
    processor = build_processor(
        config,
        preprocess=lambda row: {
            "messages": row["messages"],
            "sampling_params": dict(sampling),
            "index": row["index"],
        },
        postprocess=lambda row: {"index": row["index"], "text": row["generated_text"]},
    )
    rows = [{"index": i, "messages": [dict(m) for m in p]} for i, p in enumerate(prompts)]
    done = processor(ray.data.from_items(rows)).take_all()
    return [str(row["text"]) for row in sorted(done, key=lambda r: r["index"])]
