"""WaveCoder prompts: a generator shown one good and one bad whole example plus the seed code,
and a checklist judge with a yes/no overall answer. One task definition file per task type."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import yaml

from codeinstruct.workers.prompts.parsing import ParseFailure, fill, load_text

PACKAGE = __name__.rpartition(".")[0]  # the data files sit next to this module
FENCE = "```"

Message = dict[str, str]


@dataclass(frozen=True)
class TaskExample:
    instruction: str
    information: str
    solution: str
    analysis: str = ""
    task_name: str = ""
    input: str = ""  # the source code the example was made from (shown with good examples)

    def key(self) -> str:
        """Identity for deduplication: the instruction and solution, whitespace-normalized."""
        return " ".join(f"{self.instruction} {self.solution}".lower().split())


@dataclass(frozen=True)
class TaskDefinition:
    task_type: str
    name: str
    definition: str
    checklist: list[str]
    good: TaskExample
    bad: TaskExample


@dataclass(frozen=True)
class Judgement:
    verdict: bool
    answers: list[bool] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """Overall yes, and no checklist question answered no."""
        return self.verdict and all(self.answers)


@cache
def task_definition(task_type: str) -> TaskDefinition:
    raw: dict[str, Any] = yaml.safe_load(load_text(PACKAGE, f"tasks/{task_type}.yaml"))
    return TaskDefinition(
        task_type=task_type,
        name=raw["name"],
        definition=raw["definition"].strip(),
        checklist=[str(q) for q in raw["checklist"]],
        good=_example(raw["good"]),
        bad=_example(raw["bad"]),
    )


def _example(raw: dict[str, Any]) -> TaskExample:
    return TaskExample(
        instruction=str(raw["instruction"]).strip(),
        information=str(raw["information"]).strip(),
        solution=str(raw["solution"]).strip(),
        analysis=str(raw.get("analysis", "")).strip(),
        task_name=str(raw.get("task_name", "")).strip(),
        input=str(raw.get("input", "")).strip("\n"),
    )


def fence_tag(language: str) -> str:
    """A code fence's tag for a language: `Go` -> `go`, `C++` -> `cpp`."""
    return {"c++": "cpp", "c#": "csharp"}.get(language.lower(), language.lower().replace(" ", ""))


def render_example(example: TaskExample, with_analysis: bool = False) -> str:
    """The example in the answer format (`Task name:` first when it has one)."""
    text = f"Task name: {example.task_name}\n" if example.task_name else ""
    text += (
        f"Instruction: {example.instruction}\n"
        f"Information: {example.information}\n"
        f"Solution: {example.solution}"
    )
    if with_analysis and example.analysis:
        text += f"\nWhy it is bad: {example.analysis}"
    return text


def render_shown(example: TaskExample, with_analysis: bool = False) -> str:
    """An example as the generator sees it: the code it was made from (as the reference's
    `Input: ... Output: ...` cases), then the example itself."""
    output = render_example(example, with_analysis)
    if not example.input.strip():
        return output
    return f"Input code:\n{FENCE}\n{example.input.rstrip()}\n{FENCE}\nOutput:\n{output}"


def format_generator(
    task: TaskDefinition,
    code: str,
    good: TaskExample,
    bad: TaskExample,
    target_language: str | None = None,
    language: str = "Python",
) -> list[Message]:
    """The generator's prompt; the source code is shown as `language` (a seed's own)."""
    extra = f"Target language: {target_language}\n" if target_language else ""
    prompt = fill(
        load_text(PACKAGE, "generator.txt"),
        task_name=task.name,
        definition=task.definition,
        good=render_shown(good),
        bad=render_shown(bad, with_analysis=True),
        code=code.rstrip("\n"),
        language=language,
        fence=fence_tag(language),
        extra=extra,
    )
    return [{"role": "user", "content": prompt.rstrip() + "\n"}]


_LABEL = re.compile(
    r"^[ \t]*[*#]*[ \t]*(task[ _]name|instruction|information|solution)[ \t]*[*]*[ \t]*:[ \t]*\**",
    re.IGNORECASE | re.MULTILINE,
)
NOINPUT = "<noinput>"
# What the reference reads as "no information" (`extract_message`).
_NO_INFORMATION = {"", "none", "none.", "none,", "no additional information is required"}
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")  # the reference's sentence split
_CODE = re.compile(r"```.*?(?:```|\Z)|`[^`\n]*`", re.DOTALL)
MAX_INSTRUCTION_SENTENCES = 2
MAX_INFORMATION_SENTENCES = 2


def sentences(text: str) -> int:
    """Sentences of prose, split as the reference does (at `.`, `!` or `?` before a space or
    the end); fenced blocks and inline code are not prose and do not count."""
    prose = _CODE.sub(" ", text)
    return sum(1 for part in _SENTENCE_END.split(prose) if part.strip())


def parse_generated(text: str) -> TaskExample | ParseFailure:
    """`Task name:`/`Instruction:`/`Information:`/`Solution:` sections, checked against the
    reference's rules (`microsoft/WaveCoder` `extract_message`): one example per answer
    (`multiple_examples`), at most one field that is `<noinput>` (`too_many_noinput`), an
    instruction of one or two sentences (`instruction_sentences`) and an information of at most
    two sentences of prose, code aside (`information_too_long`). A missing or "none"
    information is `<noinput>`; a missing task name is empty."""
    found: dict[str, str] = {}
    matches = list(_LABEL.finditer(text))
    for index, match in enumerate(matches):
        label = match.group(1).lower().replace(" ", "_")
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        if label in found:
            return ParseFailure("multiple_examples")
        found[label] = text[match.end() : end].strip()
    if "instruction" not in found or "solution" not in found:
        return ParseFailure("generation_unparsable")
    if not found["instruction"]:
        return ParseFailure("empty_instruction")
    if not found["solution"]:
        return ParseFailure("empty_solution")
    information = found.get("information", "")
    if information.lower() in _NO_INFORMATION:
        information = NOINPUT
    fields = (found.get("task_name", ""), found["instruction"], information, found["solution"])
    if sum(f in (NOINPUT, NOINPUT + ".") for f in fields) > 1:
        return ParseFailure("too_many_noinput")
    if not 1 <= sentences(found["instruction"]) <= MAX_INSTRUCTION_SENTENCES:
        return ParseFailure("instruction_sentences")
    if information != NOINPUT and sentences(information) > MAX_INFORMATION_SENTENCES:
        return ParseFailure("information_too_long")
    return TaskExample(
        found["instruction"], information, found["solution"], task_name=found.get("task_name", "")
    )


def format_judge(task: TaskDefinition, example: TaskExample, seed: str = "") -> list[Message]:
    """The checklist prompt; with `seed`, the source code the example was made from, so the
    judge can check the task against it (as the reference's judge does)."""
    checklist = "\n".join(f"{i}. {q}" for i, q in enumerate(task.checklist, start=1))
    prompt = fill(
        load_text(PACKAGE, "judge.txt"),
        task_name=task.name,
        definition=task.definition,
        checklist=checklist,
        example=render_example(example),
    )
    if seed.strip():
        source = f"The source code the example was made from:\n```\n{seed.rstrip()}\n```\n\n"
        prompt = prompt.replace("The example:\n", source + "The example:\n", 1)
    return [{"role": "user", "content": prompt.rstrip() + "\n"}]


_ANSWER = re.compile(r"<?\s*answer\s*:\s*(yes|no)\b[\s,:;.-]*([^>\n]*)", re.IGNORECASE)
_OVERALL = re.compile(
    r"overall\s+answer\s*[:=-]?\s*\**\s*<?\s*(?:answer\s*:\s*)?(yes|no)\b", re.IGNORECASE
)


def parse_judgement(text: str) -> Judgement | ParseFailure:
    """The overall yes/no (its last mention wins) and the per-question answers before it."""
    overall = list(_OVERALL.finditer(text))
    if not overall:
        return ParseFailure("judge_unparsable")
    last = overall[-1]
    answers = [m for m in _ANSWER.finditer(text[: last.start()])]
    return Judgement(
        verdict=last.group(1).lower() == "yes",
        answers=[m.group(1).lower() == "yes" for m in answers],
        reasons=[m.group(2).strip() for m in answers],
    )
