"""`generator.api: completion` over the real protocol: SelfCodeAlign's LLM stages against the
scripted OpenAI-compatible server, and S->C against llama.cpp's /v1/completions."""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.llm import LLMClient, LLMResult
from codeinstruct.workers.llm.embedded import start_embedded
from codeinstruct.workers.runner import Runner, run_prefix
from codeinstruct.workers.spec import Generator
from tests.conftest import make_dataset
from tests.helpers.llm_scripts import FENCE
from tests.openai_server import FakeOpenAI

SEEDS = '''
def clamp(value, low, high):
    """Return value limited to the closed range from low to high."""
    return max(low, min(value, high))


def count_vowels(text):
    """Return how many vowels (a, e, i, o, u, any case) the text contains."""
    return sum(1 for ch in text.lower() if ch in "aeiou")
'''


def seed_source(root: Path) -> Path:
    root.mkdir()
    (root / "seeds.py").write_text(textwrap.dedent(SEEDS))
    return root


def read_stage(out: Path, prefix: str, stage: str) -> list[dict[str, Any]]:
    shard = out / prefix / "stages" / stage / "shard-00000.jsonl"
    return [json.loads(line) for line in shard.read_text().splitlines()]


def base_model(kind: str, body: dict[str, Any]) -> str:
    """A base model continuing the last example; the stop sequences say which step it is."""
    assert kind == "completions", "completion mode sends no chat request"
    assert body["stop"][-1] == "## Example"
    last = body["prompt"].rsplit("## Example", 1)[-1]
    if body["stop"][0] == "</concepts>":
        return "<concepts>range clamping, comparison</concepts>"
    if body["stop"][0] == "</instruction>":
        return "<instruction>\nWrite `clip(v, lo, hi)` returning v limited to [lo, hi].\n"
    assert "clip(v, lo, hi)" in last
    return (
        f"<response>\n{FENCE}python\ndef clip(v, lo, hi):\n    return max(lo, min(v, hi))\n"
        f"{FENCE}\n</response>\n\n<tests>\n{FENCE}python\nassert clip(5, 0, 3) == 3\n{FENCE}\n"
    )


def test_selfcodealign_llm_stages_against_the_scripted_server(tmp_path: Path) -> None:
    with FakeOpenAI(base_model) as server:
        dataset = make_dataset(
            source={"uri": str(seed_source(tmp_path / "src"))},
            generator={
                "backend": "openai",
                "endpoint": server.url,
                "model": "base",
                "api": "completion",
                "sampling": {"samplesPerInstruction": 2},
            },
            decontamination={"benchmarks": []},
            output={"uri": str(tmp_path / "out")},
        )
        Runner(dataset, progress=False).run(until="responses")
    assert server.requests == {"completions": 2 + 2 + 2}
    responses = read_stage(tmp_path / "out", run_prefix(dataset), "responses")
    assert len(responses) == 4
    assert all(r["tests"] == "assert clip(5, 0, 3) == 3\n" for r in responses)


class CountingClient:
    """The real client, counting which endpoint each request went to."""

    def __init__(self, client: LLMClient) -> None:
        self.client = client
        self.kinds: Counter[str] = Counter()

    def run(self, coroutine: Any) -> Any:
        return self.client.run(coroutine)

    async def complete(self, prompt: str, **params: Any) -> LLMResult:
        self.kinds["completions"] += 1
        return await self.client.complete(prompt, **params)

    async def chat(self, messages: Any, **params: Any) -> LLMResult:
        self.kinds["chat"] += 1
        return await self.client.chat(messages, **params)


@pytest.mark.llm
@pytest.mark.slow
def test_concepts_on_llama_cpp_completions(tmp_path: Path) -> None:
    with ExitStack() as stack:
        server = start_embedded(Generator(), stack)
        llm = LLMClient(server.base_url, str(server.model_path), concurrency=1)
        stack.callback(llm.close)  # its own event loop and HTTP session
        client = CountingClient(llm)
        dataset = make_dataset(
            source={"uri": str(seed_source(tmp_path / "src"))},
            generator={
                "backend": "openai",
                "endpoint": server.base_url,
                "api": "completion",
                "sampling": {"temperature": 0.0, "truncationMaxTokens": 96},
            },
            decontamination={"benchmarks": []},
            output={"uri": str(tmp_path / "out")},
        )
        report = Runner(dataset, progress=False, provided={"llm": client}).run(until="concepts")
    assert client.kinds["chat"] == 0 and client.kinds["completions"] == 2
    stats = report.stages["concepts"]
    assert stats.records_in == 2 == stats.records_out + sum(stats.dropped.values())
    assert stats.counters["completion_tokens"] > 0
    assert set(stats.dropped) <= {"truncated", "concepts_unparsable", "no_concepts"}
