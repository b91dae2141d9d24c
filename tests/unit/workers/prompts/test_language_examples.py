"""SelfCodeAlign beyond Python: the per-language I->R prompt, its few-shot examples (each one
parses, asserts in its language's idiom, and has a null variant), the fence rules, and the
test idioms that cannot fail being rejected."""

from __future__ import annotations

import pytest

from codeinstruct.workers.code_languages import LANGUAGES, assertion_reason, fence_language
from codeinstruct.workers.prompts.parsing import ParseFailure
from codeinstruct.workers.prompts.selfcodealign import format as sca
from codeinstruct.workers.verification.language_samples import LanguageSample, language_sample_of

OTHERS = [lang for lang in LANGUAGES if lang != "python"]


def answer(example: sca.Example) -> str:
    return f"<response>\n{example.response}\n</response>\n\n<tests>\n{example.tests}\n</tests>"


@pytest.mark.parametrize("language", OTHERS)
def test_every_example_parses_in_its_language_and_can_be_nulled(language: str) -> None:
    examples = sca.examples(language)
    assert len(examples) >= (2 if language in ("javascript", "rust") else 1)
    for example in examples:
        parsed = sca.parse_response(answer(example), language)
        assert isinstance(parsed, sca.ParsedResponse), parsed
        assert parsed.language == language
        sample = language_sample_of(
            {"language": language, "response": example.response, "tests": example.tests}
        )
        assert isinstance(sample, LanguageSample), sample
        nulled = sample.null_program
        assert nulled is not None and nulled != sample.program


@pytest.mark.parametrize("language", OTHERS)
def test_the_response_prompt_names_the_language_and_its_test_idiom(language: str) -> None:
    messages = sca.format_response("Write f.", list(sca.examples(language)[:1]), language)
    system = messages[0]["content"]
    assert "Python" not in system
    assert f"```{'cpp' if language == 'cpp' else language}" in system
    assert messages[2]["content"].startswith("<response>")  # the shot's answer
    instruction = sca.format_instruction(["loops"], "function", "easy", [], language)
    assert "Python" not in instruction[0]["content"]
    assert instruction[-1]["content"].endswith(sca.NAMES[language])


def test_the_code_is_taken_from_blocks_fenced_in_the_language() -> None:
    rust = "<response>\n```rust\nfn f(x: i32) -> i32 { x }\n```\n</response>\n<tests>\n```rust\nfn main() { assert_eq!(f(1), 1); }\n```\n</tests>"
    parsed = sca.parse_response(rust, "rust")
    assert isinstance(parsed, sca.ParsedResponse)
    assert (parsed.language, parsed.code) == ("rust", "fn f(x: i32) -> i32 { x }\n")
    # A Python block in a Rust answer is not the Rust solution.
    assert sca.parse_response(rust.replace("```rust\nfn f", "```python\nfn f"), "rust") == (
        ParseFailure("no_code")
    )
    assert fence_language("JS") == "javascript" and fence_language("c++") == "cpp"
    assert fence_language("") is None and fence_language("brainfuck") is None


@pytest.mark.parametrize(
    ("language", "tests"),
    [
        ("javascript", "console.assert(f(1) === 2);"),
        ("javascript", "const assert = require('assert');\nconsole.assert(f(1) === 2);"),
        ("typescript", "if (f(1) !== 2) console.log('bad');"),
        ("java", "public class Main { public static void main(String[] a) { assert f(1) == 2; } }"),
        ("go", 'func main() { if F(1) != 2 { println("bad") } }'),
        ("rust", "fn main() { debug_assert!(f(1) == 2); }"),
        ("cpp", "#define NDEBUG\nint main() { assert(f(1) == 2); }"),
        ("cpp", "int main() { return f(1) == 2 ? 0 : 0; }"),
    ],
)
def test_tests_that_cannot_fail_are_rejected(language: str, tests: str) -> None:
    assert assertion_reason(language, tests) == "no_assert"


@pytest.mark.parametrize(
    ("language", "tests"),
    [
        ("javascript", "const assert = require('node:assert');\nassert.strictEqual(f(1), 2);"),
        ("typescript", "import assert from 'assert';\nassert.strictEqual(f(1), 2);"),
        ("java", 'if (f(1) != 2) throw new AssertionError("f");'),
        ("go", 'func main() { if F(1) != 2 { panic("F") } }'),
        ("rust", "fn main() { assert_eq!(f(1), 2); }"),
        ("cpp", "int main() { assert(f(1) == 2); }"),
    ],
)
def test_tests_in_the_idiom_are_accepted(language: str, tests: str) -> None:
    assert assertion_reason(language, tests) is None
