"""SelfCodeAlign prompts: seed -> concepts (S->C), concepts -> instruction (C->I), instruction ->
response with self-tests (I->R). Chat messages with few-shot turns from `examples.yaml`.

Each `format_*` returns chat messages; each `parse_*` returns the parsed value or a `ParseFailure`
whose `reason` becomes the record's drop reason.
"""

from __future__ import annotations

import ast
import random
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from codeinstruct.workers.code_languages import FENCE, FENCE_TAGS, IDIOMS, NAMES, fence_language
from codeinstruct.workers.code_languages import assertion_reason as language_assertion_reason
from codeinstruct.workers.prompts.parsing import (
    ParseFailure,
    code_blocks,
    fill,
    load_text,
    section,
    strip_tags,
)

PACKAGE = __name__.rpartition(".")[0]  # the data files sit next to this module
CATEGORIES = {"function": "function implementation", "class": "class implementation",
              "program": "program implementation"}  # fmt: skip
# The reference weighs function tasks twice (they are the most common kind of seed).
CATEGORY_WEIGHTS = {"function": 2, "class": 1, "program": 1}
DIFFICULTIES = ("easy", "medium", "hard")
MAX_INSTRUCTION_WORDS = 200
MAX_CONCEPTS = 12

Message = dict[str, str]


@dataclass(frozen=True)
class Example:
    seed: str
    concepts: list[str]
    in_seed: list[str]
    """For each concept, a piece of the seed that uses it."""
    category: str
    difficulty: str
    instruction: str
    response: str
    tests: str

    @property
    def code(self) -> str:
        return "".join(code_blocks(self.response))

    @property
    def test_code(self) -> str:
        return "".join(code_blocks(self.tests))


@dataclass(frozen=True)
class ParsedResponse:
    response: str
    code: str
    tests: str
    language: str = "python"
    """The language of the code: its fence's tag (the requested language when untagged)."""


@cache
def examples(language: str = "python") -> tuple[Example, ...]:
    """Python's examples (every stage), or the I->R examples of another language
    (`examples_<language>.yaml`: instruction, response, tests)."""
    name = "examples.yaml" if language == "python" else f"examples_{language}.yaml"
    raw: list[dict[str, Any]] = yaml.safe_load(load_text(PACKAGE, name))
    return tuple(
        Example(
            seed=item.get("seed", ""),
            concepts=[str(c) for c in item.get("concepts", [])],
            in_seed=[str(c) for c in item.get("in_seed", [])],
            category=item.get("category", "function"),
            difficulty=item.get("difficulty", "medium"),
            instruction=item["instruction"].strip(),
            response=item["response"].strip(),
            tests=item["tests"].strip(),
        )
        for item in raw
    )


def pick_examples(rng: random.Random, k: int) -> list[Example]:
    pool = examples()
    return rng.sample(pool, min(k, len(pool)))


def sample_task_kind(rng: random.Random) -> tuple[str, str]:
    """(category, difficulty) for an instruction."""
    names = list(CATEGORY_WEIGHTS)
    category = rng.choices(names, weights=[CATEGORY_WEIGHTS[n] for n in names])[0]
    return category, rng.choice(DIFFICULTIES)


# S -> C -------------------------------------------------------------------------------------


def _concepts_user(seed: str, language: str = "python") -> str:
    text = fill(
        load_text(PACKAGE, "concepts_user.txt"), seed=seed if seed.endswith("\n") else seed + "\n"
    )
    return text if language == "python" else text.replace("```python", f"```{FENCE[language]}", 1)


@cache
def _shot_user(seed: str) -> str:
    """A few-shot example's user message (the examples are a fixed pool: made once each)."""
    return _concepts_user(seed)


def format_concepts(seed: str, shots: list[Example], language: str = "python") -> list[Message]:
    """S->C; a seed of another language is fenced as that language (the shots stay Python)."""
    system = load_text(PACKAGE, "concepts.txt").strip()
    if language != "python":
        system = system.replace("a piece of Python code", "a piece of code")
    messages = [{"role": "system", "content": system}]
    for shot in shots:
        messages.append({"role": "user", "content": _shot_user(shot.seed)})
        messages.append(
            {"role": "assistant", "content": f"<concepts>{', '.join(shot.concepts)}</concepts>"}
        )
    messages.append({"role": "user", "content": _concepts_user(seed, language)})
    return messages


def parse_concepts(text: str) -> list[str] | ParseFailure:
    """Concepts from `<concepts>a, b</concepts>`, a `Concepts:` line, or a bare comma list."""
    body = section(text, "concepts")
    if body is None:
        labelled = re.search(r"^\s*\**concepts\**\s*:\s*(.+)$", text, re.IGNORECASE | re.MULTILINE)
        if labelled:
            body = labelled.group(1)
        else:
            lines = [line for line in text.strip().splitlines() if line.strip()]
            if not lines or "," not in lines[0]:
                return ParseFailure("concepts_unparsable")
            body = lines[0]
    # One line by the format; an unclosed tag must not pull in the text that follows it.
    body = next((line for line in body.splitlines() if line.strip()), "")
    concepts: list[str] = []
    for part in re.split(r"[,;]", body):
        concept = part.strip().strip("-*•.`'\"").strip()
        if concept and len(concept) <= 80 and concept.lower() not in {c.lower() for c in concepts}:
            concepts.append(concept)
    if not concepts:
        return ParseFailure("no_concepts")
    return concepts[:MAX_CONCEPTS]


# C -> I -------------------------------------------------------------------------------------


def _instruction_user(
    concepts: list[str], category: str, difficulty: str, language: str = "python"
) -> str:
    text = fill(
        load_text(PACKAGE, "instruction_user.txt"),
        concepts=", ".join(concepts),
        category=CATEGORIES[category],
        difficulty=difficulty,
    ).strip()
    return text if language == "python" else f"{text}\nLanguage: {NAMES[language]}"


def _in_language(text: str, language: str) -> str:
    """A Python prompt or task, retold for another language (its name in place of Python's)."""
    return text if language == "python" else text.replace("Python", NAMES[language])


def format_instruction(
    concepts: list[str],
    category: str,
    difficulty: str,
    shots: list[Example],
    language: str = "python",
) -> list[Message]:
    """C->I; for another language the task asks for a solution in it (the shots' tasks too)."""
    system = _in_language(load_text(PACKAGE, "instruction.txt").strip(), language)
    messages = [{"role": "system", "content": system}]
    for shot in shots:
        user = _instruction_user(shot.concepts, shot.category, shot.difficulty, language)
        messages.append({"role": "user", "content": user})
        task = _in_language(shot.instruction, language)
        messages.append({"role": "assistant", "content": f"<instruction>\n{task}\n</instruction>"})
    user = _instruction_user(concepts, category, difficulty, language)
    messages.append({"role": "user", "content": user})
    return messages


def parse_instruction(text: str) -> str | ParseFailure:
    """The task inside `<instruction>` tags, or the whole answer when it has no tags at all."""
    body = section(text, "instruction")
    if body is None:
        if re.search(r"</?(response|tests)>", text, re.IGNORECASE):
            return ParseFailure("instruction_unparsable")
        body = re.sub(r"^\s*\**(instruction|task)\**\s*:\s*", "", text.strip(), flags=re.IGNORECASE)
    instruction = strip_tags(body, "instruction").strip()
    if not instruction:
        return ParseFailure("empty_instruction")
    if len(instruction.split()) > MAX_INSTRUCTION_WORDS:
        return ParseFailure("instruction_too_long")
    return instruction


# I -> R -------------------------------------------------------------------------------------


def _response_user(instruction: str) -> str:
    return fill(load_text(PACKAGE, "response_user.txt"), instruction=instruction).strip()


def response_system(language: str = "python") -> str:
    """The I->R system prompt: Python's, or the language template filled with its test idiom."""
    if language == "python":
        return load_text(PACKAGE, "response.txt").strip()
    return fill(
        load_text(PACKAGE, "response_language.txt"),
        language=NAMES[language],
        fence=FENCE[language],
        idiom=IDIOMS[language].prompt,
    ).strip()


def format_response(
    instruction: str, shots: list[Example], language: str = "python"
) -> list[Message]:
    """I->R; `shots` are examples of the same language (`examples(language)`)."""
    messages = [{"role": "system", "content": response_system(language)}]
    for shot in shots:
        messages.append({"role": "user", "content": _response_user(shot.instruction)})
        answer = f"<response>\n{shot.response}\n</response>\n\n<tests>\n{shot.tests}\n</tests>"
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": _response_user(instruction)})
    return messages


RESPONSE_STOP = ["</tests>"]


def parse_response(text: str, language: str = "python") -> ParsedResponse | ParseFailure:
    """Solution code from the response part and asserts from the `<tests>` part.

    The `<tests>` tag is required (its closing tag may be cut by the stop sequence); the
    response part is what precedes it. Code comes from fenced blocks tagged with `language`
    (or untagged; an unclosed fence runs to the end of its part); Python tests without fences
    are accepted when they parse. The tests must assert in the language's idiom
    (`code_languages.IDIOMS`), else `tests_without_assert`.
    """
    tests_at = re.search(r"<tests>", text, re.IGNORECASE)
    if tests_at is None:
        return ParseFailure("missing_tests")
    head = text[: tests_at.start()]
    response = section(head, "response")
    response = strip_tags(head if response is None else response, "response")
    tests_part = section(text, "tests") or ""
    tags = FENCE_TAGS[language]
    code = "".join(code_blocks(response, tags))
    if not code.strip():
        return ParseFailure("no_code")
    blocks = code_blocks(tests_part, tags)
    tests = "".join(blocks) if blocks else _bare_python(tests_part) if language == "python" else ""
    if not tests.strip():
        return ParseFailure("no_tests")
    if language_assertion_reason(language, tests) is not None:
        return ParseFailure("tests_without_assert")
    fenced = re.search(r"^[ \t]*```[ \t]*([\w+#-]+)", response, re.MULTILINE)
    written = (fence_language(fenced.group(1)) if fenced else None) or language
    return ParsedResponse(response=response, code=code, tests=tests, language=written)


def needs_tests_followup(text: str, language: str = "python") -> bool:
    """An answer with solution code but no `<tests>` part (weak models often stop there)."""
    return parse_response(text, language) == ParseFailure("missing_tests") and bool(
        code_blocks(text, FENCE_TAGS[language])
    )


def format_tests_followup(
    messages: list[Message], answer: str, language: str = "python"
) -> list[Message]:
    """The conversation so far, the model's answer, and a request for the missing tests."""
    followup = load_text(PACKAGE, "tests_followup.txt").strip()
    if language != "python":
        followup = (
            f"Now write the tests for your solution: {IDIOMS[language].prompt}, inside "
            "<tests></tests> tags. Do not repeat the solution."
        )
    return [
        *messages,
        {"role": "assistant", "content": answer},
        {"role": "user", "content": followup},
    ]


def join_tests_followup(answer: str, followup: str) -> str:
    """The answer with the tests of the follow-up reply (tagged or a bare code block) appended."""
    tests = section(followup, "tests")
    return (
        f"{answer.rstrip()}\n\n<tests>\n{(followup if tests is None else tests).strip()}\n</tests>"
    )


def _bare_python(text: str) -> str:
    text = strip_tags(text, "tests")
    try:
        ast.parse(text)
    except SyntaxError:
        return ""
    return text + "\n" if text else ""
