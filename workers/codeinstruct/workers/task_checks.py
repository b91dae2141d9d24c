"""Execution checks of WaveCoder tasks, the ground truth the LLM judge is measured against
(pure: programs to run and verdicts from what they printed; the stage runs them).

- generation (Python): the solution's code runs to completion (exit 0) in the sandbox;
- repair: the seed is the known-good code. The seed, the task's buggy code (its information)
  and the solution are each called on the same generated inputs (the seed's first function,
  by name, in a fresh process each); the bug is real when the buggy code behaves differently
  from the seed on some input the seed accepts, and the fix is right when the solution behaves
  like the seed on all of them;
- translation: the solution's code blocks fenced in the target language run to completion in
  that language (`EXECUTABLE_LANGUAGES`, the sandbox's); a solution with none fails. For
  compiled targets the code must be a program (`main`): a translated library has nothing to
  run and stays unchecked;
- summarization: nothing to execute, unchecked.

Generated code is adversarial: a verdict comes from the supervisor's verdict of each job and
the result line each harness printed after the code under test was loaded (marked with a
per-record token the code is not given), compared here; code that exits or crashes while it is
loaded leaves no result line and fails. This measures the judge; the sandbox is the boundary.
"""

from __future__ import annotations

import ast
import itertools
import json
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from codeinstruct.workers.code_languages import LANGUAGES, fence_language, tagged_blocks
from codeinstruct.workers.prompts.parsing import code_blocks

CheckVerdict = Literal["pass", "fail", "unchecked"]
EXECUTABLE_LANGUAGES = frozenset(
    LANGUAGES
)  # the languages tasks are written in and the sandbox runs
# Compiled targets run only as programs: their entry point.
ENTRY_POINTS = {
    "rust": re.compile(r"\bfn\s+main\s*\("),
    "go": re.compile(r"\bfunc\s+main\s*\("),
    "cpp": re.compile(r"\bint\s+main\s*\("),
    "java": re.compile(r"\bstatic\s+void\s+main\s*\("),
}
MAX_INPUTS = 24
CALL_SECONDS = 1.0
# Argument values the generated inputs are drawn from (JSON, so every process gets a copy).
CANDIDATES: tuple[Any, ...] = (
    0, 1, -1, 2, 5, 10, 2.5, "", "a", "abc", "Hello World", [], [1, 2, 3], [3, -1, 2, 2],
    {"a": 1, "b": 2}, True, None,
)  # fmt: skip

HARNESS = """\
import json, signal, sys
SOURCE = {source!r}
INPUTS = json.loads({inputs!r})
def _alarm(signum, frame):
    raise TimeoutError("call took too long")
signal.signal(signal.SIGALRM, _alarm)
namespace = {{"__name__": "__checked__"}}
exec(compile(SOURCE, "<checked>", "exec"), namespace)
function = namespace.get({name!r})
results = []
if callable(function):
    for args in INPUTS:
        signal.setitimer(signal.ITIMER_REAL, {seconds})
        try:
            value = repr(function(*args))[:300]
        except BaseException as error:
            value = "!" + type(error).__name__
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        results.append(value)
print({token!r} + json.dumps({{"found": callable(function), "results": results}}))
sys.stdout.flush()
"""


@dataclass(frozen=True)
class Check:
    verdict: CheckVerdict
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"verdict": self.verdict, "detail": self.detail}


def python_code(text: str) -> str:
    """The Python code blocks of a text, joined; empty when it has none."""
    return "\n".join(code_blocks(text))


def target_language(name: str) -> str | None:
    """The sandbox language a translation target names (`C++` -> `cpp`), or None."""
    found = fence_language(name.strip().lower().split(" ")[0]) if name.strip() else None
    return found if found in EXECUTABLE_LANGUAGES else None


def translated_program(solution: str, language: str) -> tuple[str | None, str]:
    """(the program to run, why not): the solution's blocks fenced in `language`."""
    code = (
        python_code(solution)
        if language == "python"
        else "\n".join(tagged_blocks(solution, language))
    )
    if not code.strip():
        return None, f"the solution has no {language} code"
    entry = ENTRY_POINTS.get(language)
    if entry is not None and not entry.search(code):
        return None, f"the {language} code has no main to run"
    return code, ""


def first_function(code: str) -> tuple[str, int] | None:
    """The name and required positional arity of the code's first top-level function."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = len(args.posonlyargs) + len(args.args)
            return node.name, positional - len(args.defaults)
    return None


def generated_inputs(arity: int, rng: random.Random) -> list[list[Any]]:
    """Up to MAX_INPUTS argument lists of `arity` candidate values, seeded."""
    if arity == 0:
        return [[]]
    if len(CANDIDATES) ** arity <= MAX_INPUTS:
        return [list(c) for c in itertools.product(CANDIDATES, repeat=arity)]
    return [[rng.choice(CANDIDATES) for _ in range(arity)] for _ in range(MAX_INPUTS)]


def harness(code: str, name: str, inputs: Sequence[Sequence[Any]], token: str) -> str:
    """A program calling `name` of `code` on each input, printing the results after `token`."""
    return HARNESS.format(
        source=code,
        inputs=json.dumps([list(i) for i in inputs]),
        name=name,
        seconds=CALL_SECONDS,
        token=token,
    )


def harness_results(stdout: str, token: str) -> dict[str, Any] | None:
    """The harness's result line (the last one bearing the token), or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(token):
            try:
                found = json.loads(line[len(token) :])
            except json.JSONDecodeError:
                return None
            return found if isinstance(found, dict) else None
    return None


def repair_verdict(
    seed: Mapping[str, Any] | None, buggy: Mapping[str, Any] | None, fixed: Mapping[str, Any] | None
) -> Check:
    """Whether a repair task holds, from the three harnesses' results (None: no result line)."""
    if not seed or not seed.get("found"):
        return Check("unchecked", "the seed did not run")
    accepted = [i for i, v in enumerate(seed["results"]) if not str(v).startswith("!")]
    if not accepted:
        return Check("unchecked", "the seed accepts none of the generated inputs")
    if not fixed or not fixed.get("found"):
        return Check("fail", "the solution does not define the seed's function")
    if not buggy or not buggy.get("found"):
        return Check("fail", "the buggy code does not define the seed's function")

    def same(results: Mapping[str, Any], i: int) -> bool:
        values = results.get("results") or []
        return i < len(values) and values[i] == seed["results"][i]

    if all(same(buggy, i) for i in accepted):
        return Check("fail", f"the buggy code behaves like the seed on all {len(accepted)} inputs")
    wrong = [i for i in accepted if not same(fixed, i)]
    if wrong:
        return Check("fail", f"the solution differs from the seed on {len(wrong)} inputs")
    return Check("pass", f"bug shown and fixed on {len(accepted)} inputs")


def agreement(pairs: Sequence[tuple[bool, CheckVerdict]]) -> dict[str, Any]:
    """The judge against execution over (judge accepted, execution verdict) pairs: counts,
    TPR (the judge accepts what runs correctly) and TNR (it rejects what does not); unchecked
    tasks are counted apart."""
    checked = [
        (accepted, verdict == "pass") for accepted, verdict in pairs if verdict != "unchecked"
    ]
    tp = sum(1 for a, ok in checked if a and ok)
    fn = sum(1 for a, ok in checked if not a and ok)
    tn = sum(1 for a, ok in checked if not a and not ok)
    fp = sum(1 for a, ok in checked if a and not ok)
    return {
        "checked": len(checked),
        "unchecked": len(pairs) - len(checked),
        "true_positive": tp,
        "false_negative": fn,
        "true_negative": tn,
        "false_positive": fp,
        "tpr": round(tp / (tp + fn), 4) if tp + fn else None,
        "tnr": round(tn / (tn + fp), 4) if tn + fp else None,
    }
