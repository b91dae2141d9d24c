"""SelfCodeAlign C->I: a task from the concepts, with a sampled category and difficulty."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.selfcodealign import format as prompts
from codeinstruct.workers.records import Record
from codeinstruct.workers.stages.llm_stage import LLMStage, Prompt


class WriteInstructions(LLMStage[str]):
    """Asks for a task that exercises the concepts, of a category and difficulty drawn per
    record (function twice as likely as class or program).

    Input fields: concepts
    Output fields: instruction, category, difficulty
    Drop reasons: instruction_unparsable, empty_instruction, instruction_too_long, truncated,
    llm_infra_error, llm_request_rejected
    """

    name = "instructions"
    inputs = ("concepts",)
    outputs = ("instruction", "category", "difficulty")
    shots = 2
    max_tokens = 320
    stop = ("</instruction>",)

    def examples(self) -> Sequence[Any]:
        return prompts.examples()

    def draw(self, record: Record, rng: random.Random) -> dict[str, Any]:
        category, difficulty = prompts.sample_task_kind(rng)
        return {"category": category, "difficulty": difficulty}

    def format(self, record: Record, shots: list[Any]) -> Prompt:
        return prompts.format_instruction(
            record["concepts"],
            record["category"],
            record["difficulty"],
            shots,
            str(record.get("language", "python")),
        )

    def parse(self, text: str) -> str | ParseFailure:
        return prompts.parse_instruction(text)
