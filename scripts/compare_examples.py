"""Run every example spec (and each method end to end) and compare two such runs file by file.

    PYTHONPATH=<tree>/workers:<tree>/operator python scripts/compare_examples.py run OUT
    python scripts/compare_examples.py diff OUT_BEFORE OUT_AFTER

`run` plays the model with the scripted OpenAI-compatible server (tests/openai_server.py), so
the runs take minutes and need no GPU; generated code runs in the real sandbox. `diff` compares
every stage shard, excluded shard, report and dataset file byte for byte, and the names of the
LLM cache objects (a changed request is a changed key). The only fields ignored are wall-clock
measurements: `seconds` (stage stats, card), `duration` (an execution's time) and so the
sha256 in a shard's marker (the shard itself is compared), the output folder's own path and the scripted server's port.

Used to show that a restructuring changes no output: run it at the commit before and after.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FENCE = "```"
EXAMPLES = {
    "quickstart": ("examples/quickstart.yaml", None),
    "seeds-stdlib": ("examples/seeds-stdlib.yaml", "seed_dedup"),
    "wavecoder-stdlib": ("examples/wavecoder-stdlib.yaml", "coreset"),
    "xcoder-pool": ("examples/xcoder-pool.yaml", None),
}
TIMING = re.compile(r'"(seconds|duration)": [0-9.e+-]+')
CARD_SECONDS = re.compile(r"(\| [0-9.]+ \|$|^( *)seconds: [0-9.e+-]+$)", re.MULTILINE)
# A marker's sha256 is of its shard, whose durations vary; the shard itself is compared.
LOOPBACK = re.compile(r"127\.0\.0\.1:\d+")
MARKER_SHA = re.compile(r'"sha256": "[0-9a-f]{64}"')


def selfcodealign_answer(kind: str, body: dict[str, Any]) -> str:
    """Plays the model for S->C, C->I and I->R (some answers unparsable, some without tests)."""
    from codeinstruct.workers.records import content_id

    query = body["messages"][-1]["content"]
    tag = content_id(query, str(body.get("seed")))[:6]
    if query.startswith(FENCE):
        name = re.search(r"def (\w+)", query)
        return f"<concepts>concept {name.group(1) if name else '?'}, loops"
    if query.startswith("Concepts:"):
        return f"<instruction>\nWrite task_{tag}() returning 1.\n</instruction>"
    if query.startswith("Now write the tests"):
        name = re.search(r"def (\w+)\(", body["messages"][-2]["content"])
        return f"Sure.\n{FENCE}python\nassert {name.group(1) if name else 'g'}() == 1\n{FENCE}"
    name = re.search(r"Write (\w+)\(\)", query)
    fn = name.group(1) if name else "g"
    seed = int(content_id(query)[:6], 16)
    if seed % 5 == 0:
        return "No tags at all."
    if seed % 5 == 1:
        return f"<response>\nEasy.\n{FENCE}python\ndef {fn}():\n    return 1\n{FENCE}\n</response>"
    wrong = 2 if seed % 5 == 2 else 1
    return (
        f"<response>\nEasy.\n{FENCE}python\ndef {fn}():\n    return {wrong}\n{FENCE}\n</response>"
        f"\n\n<tests>\n{FENCE}python\nassert {fn}() == 1\n{FENCE}\n"
    )


def wavecoder_answer(kind: str, body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if prompt.startswith("You review"):
        verdict = "no" if len(prompt) % 3 == 0 else "yes"
        return f"1. <answer: yes, ok>\n2. <answer: {verdict}, fine>\nOverall answer: {verdict}"
    name = re.search(r"def (\w+)", prompt.split("Source code:")[-1])
    return (
        f"Instruction: Explain what {name.group(1) if name else 'it'} returns.\n"
        f"Information: <noinput>\nSolution:\n{FENCE}python\nprint('ok')\n{FENCE}"
    )


def xcoder_answer(kind: str, body: dict[str, Any]) -> Any:
    if kind == "completions":
        high = "sort" in body["prompt"].lower()
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
    cases = "\n".join(f"print('Test case {i}: {i % 3 != 0}')" for i in range(1, k + 1))
    return f"Here it is:\n{FENCE}python\n{cases}\n{FENCE}\n"


def _with(document: dict[str, Any], out: Path, **spec: Any) -> dict[str, Any]:
    merged = {**document["spec"], **spec, "output": {**document["spec"]["output"], "uri": str(out)}}
    return {**document, "spec": merged}


def _generator(url: str, **extra: Any) -> dict[str, Any]:
    return {"backend": "openai", "endpoint": url, "model": "fake", **extra}


def run_all(out: Path) -> None:
    import yaml

    from codeinstruct.workers.runner import Runner
    from codeinstruct.workers.spec import parse_spec
    from tests.openai_server import FakeOpenAI

    def go(name: str, document: dict[str, Any], until: str | None) -> None:
        dataset = parse_spec(document, name)
        report = Runner(dataset, progress=False).run(until=until)
        print(f"{name}: {report.records} records", flush=True)

    for name, (path, until) in EXAMPLES.items():
        document = yaml.safe_load((REPO / path).read_text())
        if name == "quickstart":
            with FakeOpenAI(selfcodealign_answer) as server:
                sampling = document["spec"]["generator"]["sampling"]
                go(
                    name,
                    _with(
                        document, out / name, generator=_generator(server.url, sampling=sampling)
                    ),
                    until,
                )
            continue
        go(name, _with(document, out / name), until)
    with FakeOpenAI(wavecoder_answer) as server:
        document = yaml.safe_load((REPO / "examples/wavecoder-stdlib.yaml").read_text())
        document = _with(
            document,
            out / "wavecoder-full",
            source={"uri": "stdlib/calendar.py", "format": "python"},
            targetSize=5,
            wavecoder={"coresetSize": 8, "roundSize": 3, "examplePoolSize": 3},
            generator=_generator(server.url),
        )
        go("wavecoder-full", document, None)
    with FakeOpenAI(xcoder_answer) as server:
        document = yaml.safe_load((REPO / "examples/xcoder-pool.yaml").read_text())
        scoring = {**document["spec"]["scoring"], "complexityScorer": "llm"}
        scoring.update(qualityScorer="unit_tests", unitTestsPerSample=6)
        document = _with(
            document, out / "xcoder-llm", scoring=scoring, generator=_generator(server.url)
        )
        go("xcoder-llm", document, None)


def _normalised(path: Path, root: Path) -> bytes:
    text = path.read_bytes().decode("utf-8", "surrogateescape")
    text = text.replace(str(root.resolve()), "<out>")  # the output folder named in run.json
    text = LOOPBACK.sub("127.0.0.1:<port>", text)  # the scripted server's port
    if path.name == "README.md":
        text = CARD_SECONDS.sub("<seconds>", text)
    if path.suffix in (".json", ".jsonl", ".md"):
        text = TIMING.sub(r'"\1": 0', text)
    if "/_done/" in path.as_posix():
        text = MARKER_SHA.sub('"sha256": "-"', text)
    return text.encode("utf-8", "surrogateescape")


def compared_files(root: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and "/cache/" not in f"/{relative}":
            files[relative] = path
    return files


def cache_keys(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "/cache/" in f"/{p.relative_to(root).as_posix()}"
    }


def diff(before: Path, after: Path) -> int:
    problems = []
    a, b = compared_files(before), compared_files(after)
    # A run stopped with --until exports no dataset any more (by design): the comparison
    # covers the dataset files only where both runs have them.
    for name in sorted(set(a) | set(b)):
        if "/dataset/" in name and (name not in a or name not in b):
            continue
        if name not in a or name not in b:
            problems.append(f"only in {'after' if name in b else 'before'}: {name}")
        elif _normalised(a[name], before) != _normalised(b[name], after):
            problems.append(f"differs: {name}")
    if cache_keys(before) != cache_keys(after):
        problems.append("the LLM cache keys differ: some request changed")
    for problem in problems:
        print(problem)
    same = len(set(a) & set(b))
    print(f"{same} files compared, {len(cache_keys(before))} cache keys, {len(problems)} problems")
    return 1 if problems else 0


def main() -> int:
    if sys.argv[1:2] == ["run"]:
        run_all(Path(sys.argv[2]).resolve())
        return 0
    if sys.argv[1:2] == ["diff"]:
        return diff(Path(sys.argv[2]), Path(sys.argv[3]))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
