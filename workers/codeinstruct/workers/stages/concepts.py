"""SelfCodeAlign S->C: the programming concepts a seed function exercises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.selfcodealign import format as prompts
from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.llm_stage import LLMStage, Prompt


class ExtractConcepts(LLMStage[list[str]]):
    """Asks for the concepts a seed exercises (a child record per seed).

    Input fields: seed
    Output fields: concepts
    Drop reasons: concepts_unparsable, no_concepts, truncated, llm_infra_error,
    llm_request_rejected
    """

    name = "concepts"
    inputs = ("seed",)
    outputs = ("concepts",)
    shots = 2
    max_tokens = 96
    stop = ("</concepts>",)

    def examples(self) -> Sequence[Any]:
        return prompts.examples()

    def format(self, record: Record, shots: list[Any]) -> Prompt:
        return prompts.format_concepts(record["seed"], shots, str(record.get("language", "python")))

    def parse(self, text: str) -> list[str] | ParseFailure:
        return prompts.parse_concepts(text)
