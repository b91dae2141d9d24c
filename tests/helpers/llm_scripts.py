"""Scripted model answers for the OpenAI-compatible test server (`tests/openai_server.py`), and
the generator settings that point a spec at it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

from codeinstruct.workers.records import Record, content_id
from codeinstruct.workers.spec import Spec
from codeinstruct.workers.stages.wavecoder_tasks import GenerateTasks
from tests.openai_server import FakeOpenAI

FENCE = "```"
# Generous per-request timeout: the fake server shares this process (and its GIL) with the
# client, so a short timeout would turn a slow healthy answer into a spurious fault. Injected
# hangs last until the client gives up (see `FakeOpenAI.hang_seconds`).
REQUEST_TIMEOUT = 5.0
HANG_SECONDS = 2 * REQUEST_TIMEOUT
FAST_RETRIES = {
    "maxAttempts": 12,
    "backoffSeconds": 0.01,
    "requestTimeoutSeconds": REQUEST_TIMEOUT,
}


def generator(server: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {"backend": "openai", "endpoint": server.url, "model": "fake", **FAST_RETRIES, **extra}


def seed_source(root: Path, count: int) -> Path:
    """A source folder with `count` seed functions f0..f{count-1}, each with a docstring."""
    functions = [
        textwrap.dedent(f'''
        def f{i}(values, limit={i}):
            """Return the values of the list that are above {i} but at most the limit {i * 7}."""
            kept = [v for v in values if {i} < v <= limit * {i + 1}]
            total_{i} = sum(kept) + {i}
            return kept if total_{i} else [{i}] * {i + 2}
        ''')
        for i in range(count)
    ]
    root.mkdir()
    (root / "seeds.py").write_text("\n".join(functions))
    return root


def selfcodealign_answer(kind: str, body: dict[str, Any]) -> str:
    """Plays the model for S→C, C→I, I→R: the last user turn says which step this is.

    Seed f3's instruction is odd but parsable; a response whose seed is ≡ 0 (mod 5) has no tags
    (`missing_tests`), one ≡ 1 (mod 5) stops before its tests (a follow-up asks for them)."""
    query = body["messages"][-1]["content"]
    tag = content_id(query, str(body.get("seed")))[:6]
    if query.startswith(FENCE):
        name = re.search(r"def (\w+)", query)
        return f"<concepts>concept {name.group(1) if name else '?'}, loops"
    if query.startswith("Concepts:"):
        if "concept f3" in query:
            return "I would rather not."  # parsable as an (odd) instruction
        return f"<instruction>\nWrite task_{tag}() returning 1.\n</instruction>"
    if query.startswith("Now write the tests"):
        name = re.search(r"def (\w+)\(", body["messages"][-2]["content"])
        return f"Sure.\n{FENCE}python\nassert {name.group(1) if name else 'g'}() == 1\n{FENCE}"
    if query.startswith("<instruction>"):
        name = re.search(r"Write (\w+)\(\)", query)
        fn = name.group(1) if name else "g"
        if body.get("seed", 0) % 5 == 0:
            return "No tags at all."  # parse failure: missing_tests
        if body.get("seed", 0) % 5 == 1:  # stops before its tests: a follow-up asks for them
            return (
                f"<response>\nEasy.\n{FENCE}python\ndef {fn}():\n    return 1\n{FENCE}\n</response>"
            )
        return (
            f"<response>\nEasy.\n{FENCE}python\ndef {fn}():\n    return 1\n{FENCE}\n</response>\n\n"
            f"<tests>\n{FENCE}python\nassert {fn}() == 1\n{FENCE}\n"
        )
    raise AssertionError(f"unexpected prompt: {query[:80]}")


def wavecoder_word(number: int) -> str:
    """What the scripted generator makes of seed `number`: the judge rejects, cannot parse, or
    keeps it."""
    return "reject" if number % 3 == 0 else "garbled" if number % 7 == 1 else "keep"


def wavecoder_answer(kind: str, body: dict[str, Any]) -> str:
    """Plays WaveCoder's generator and judge.

    A seed whose code says `# seed N` gets an instruction marked `wavecoder_word(N)`; the judge
    says no to "reject", answers without an overall verdict for "garbled", yes otherwise. Any
    other seed (a function `def NAME`) is kept."""
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("You review"):
        instruction = re.search(r"The example:\n(?:Task name: .*\n)?Instruction: (.*)", prompt)
        assert instruction is not None, prompt[:200]
        text = instruction.group(1)
        if "garbled" in text:
            return "Looks fine to me!"  # no overall answer: unparsable
        verdict = "no" if "reject" in text else "yes"
        return f"1. <answer: yes, ok>\n2. <answer: {verdict}, checked>\nOverall answer: {verdict}"
    code = re.search(r"Source code[^\n]*:\n```[\w+#]*\n(.*?)\n```", prompt, re.DOTALL)
    assert code is not None, prompt[:200]
    seed = re.search(r"seed (\d+)", code.group(1))
    if seed is not None:
        number = int(seed.group(1))
        return (
            f"Instruction: Write Python code for seed {number} ({wavecoder_word(number)}).\n"
            f"Information: <noinput>\nSolution:\n{FENCE}python\nx = {number}\n{FENCE}"
        )
    name = re.search(r"def (\w+)", code.group(1))
    return (
        f"Instruction: Explain what {name.group(1) if name else 'it'} returns (keep).\n"
        f"Information: <noinput>\nSolution:\n{FENCE}python\nprint('ok')\n{FENCE}"
    )


def xcoder_answer(kind: str, body: dict[str, Any]) -> Any:
    """Plays XCoder's complexity scorer (logprobs: "hard" prompts score high, "unscorable" ones
    have no digit token) and unit-test writer (case i is wrong when i ≡ 0 (mod 4))."""
    if kind == "completions":
        assert body["logprobs"] >= 5 and body["max_tokens"] >= 1
        if "unscorable" in body["prompt"]:
            return {
                "text": " The",
                "logprobs": {
                    "tokens": [" The"],
                    "token_logprobs": [-0.1],
                    "top_logprobs": [{" The": -0.1, " A": -3.0}],
                },
            }
        high = "hard" in body["prompt"]
        top = {"5": -0.1, "6": -2.5} if high else {"1": -0.2, "2": -1.8}
        return {
            "text": " ",
            "logprobs": {
                "tokens": [" ", "x"],
                "token_logprobs": [-0.05, -0.1],
                "top_logprobs": [{" ": -0.05}, top],
            },
        }
    content = body["messages"][-1]["content"]
    k = int(re.search(r"exactly (\d+) test cases", content).group(1))  # type: ignore[union-attr]
    cases = "\n".join(
        f"    try:\n        ok = add({i}, 1) == {i + 1 if i % 4 else i}\n    except Exception:\n        ok = False\n    print(f'Test case {i}: {{ok}}')"
        for i in range(1, k + 1)
    )
    return f"Here it is:\n{FENCE}python\ndef test_script():\n{cases}\n\ntest_script()\n{FENCE}\n"


def generate_tasks(spec: Spec) -> GenerateTasks:
    """WaveCoder's generator/judge stage with the spec's slices, as the method builds it."""
    return GenerateTasks(spec.wavecoder, spec.generator.sampling)


def wavecoder_seeds(count: int) -> list[Record]:
    return [
        {"id": content_id(str(i)), "seed": f"# seed {i}\ndef f():\n    return {i}\n"}
        for i in range(count)
    ]


def javascript_seed_source(root: Path, count: int) -> Path:
    """A source folder with `count` JSDoc-documented JavaScript functions f0..f{count-1}, and
    one undocumented one (not a seed)."""
    functions = [
        textwrap.dedent(f"""
        /**
         * Returns the values of the array above {i}, each scaled by {i + 1}.
         */
        function f{i}(values) {{
          return values.filter((v) => v > {i}).map((v) => v * {i + 1});
        }}
        """)
        for i in range(count)
    ]
    root.mkdir()
    (root / "seeds.js").write_text("\n".join(functions) + "\nfunction bare(x) { return x; }\n")
    return root


def selfcodealign_javascript_answer(kind: str, body: dict[str, Any]) -> str:
    """Plays the model for SelfCodeAlign on JavaScript seeds: concepts, then an instruction,
    then a JavaScript response whose tests use the `assert` module. By the request's seed, a
    response ≡ 1 (mod 4) checks with `console.assert` (cannot fail: `tests_without_assert`), one
    ≡ 2 (mod 4) has tests that never call the solution (`vacuous_tests`), one ≡ 3 (mod 4) is
    wrong (`fail`); the others pass."""
    query = body["messages"][-1]["content"]
    tag = content_id(query, str(body.get("seed")))[:6]
    if query.startswith(FENCE):
        assert query.startswith(f"{FENCE}javascript"), query[:40]
        name = re.search(r"function (\w+)", query)
        return f"<concepts>array filter of {name.group(1) if name else '?'}, arrow functions"
    if query.startswith("Concepts:"):
        assert "Language: JavaScript" in query, query
        return f"<instruction>\nWrite a JavaScript function task_{tag}(n) returning n + 1.\n</instruction>"
    if query.startswith("<instruction>"):
        assert "JavaScript" in body["messages"][0]["content"]
        name = re.search(r"function (\w+)\(", query)
        fn = name.group(1) if name else "g"
        variant = body.get("seed", 0) % 4
        result = "n + 2" if variant == 3 else "n + 1"
        if variant == 1:
            checks = f"console.assert({fn}(1) === 2);"
        elif variant == 2:
            checks = "const assert = require('assert');\nassert.strictEqual(1 + 1, 2);"
        else:
            checks = (
                f"const assert = require('assert');\nassert.strictEqual({fn}(1), 2);\n"
                f"assert.strictEqual({fn}(-1), 0);"
            )
        return (
            f"<response>\nAdd one.\n{FENCE}javascript\nfunction {fn}(n) {{\n  return {result};\n}}\n"
            f"{FENCE}\n</response>\n\n<tests>\n{FENCE}javascript\n{checks}\n{FENCE}\n"
        )
    raise AssertionError(f"unexpected prompt: {query[:80]}")
