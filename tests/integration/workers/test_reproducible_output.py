"""Two uninterrupted runs of the same spec write the same bytes (audit finding F14): the scripted
model answers, generated code runs in real gVisor, and every data file of the run (dataset,
stage shards, excluded records, executions, reports) is byte-identical. Wall-clock values live
only in the ledger's markers and in the card's documented `timing` block and `## Timing`
section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from codeinstruct.workers.runner import Runner
from tests.helpers.llm_scripts import generator, seed_source, selfcodealign_answer
from tests.helpers.specs import make_dataset
from tests.openai_server import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]

# The ledger's own files: markers (`_done/`) and completions carry each shard's stats with its
# seconds, the lease its holder; they are not data.
LEDGER_FILES = ("_lease.json", "_complete.json")


def run_once(tmp_path: Path, source: Path, server: FakeOpenAI, moved_to: Path) -> None:
    """One run of the spec into its output `tmp_path/out` (LLM cache included), then moved
    aside, so the next run starts from nothing."""
    dataset = make_dataset(
        method="selfcodealign",
        targetSize=4,
        source={"uri": str(source)},
        generator=generator(server, sampling={"samplesPerInstruction": 3}),
        output={"uri": str(tmp_path / "out"), "keepExecutions": True, "shardSize": 4},
    )
    Runner(dataset, progress=False).run()
    (tmp_path / "out").rename(moved_to)


def data_files(root: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        ledger = "/_done/" in relative or path.name.startswith(".") or path.name in LEDGER_FILES
        if path.is_file() and not ledger:
            files[relative] = path.read_bytes()
    return files


def split_card(text: str) -> tuple[dict[str, object], str]:
    """(front matter without its `timing` block, body without its `## Timing` section)."""
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    timing = meta["codeinstruct"].pop("timing")
    assert set(timing) >= {"execute", "responses"}, "every stage's seconds are in `timing`"
    head, _, _ = body.partition("\n## Timing")
    return meta, head


def test_two_runs_of_one_spec_write_identical_bytes(tmp_path: Path) -> None:
    source = seed_source(tmp_path / "src", 6)
    with FakeOpenAI(selfcodealign_answer, seed=2) as server:  # one endpoint, as in one spec
        run_once(tmp_path, source, server, tmp_path / "first")
        run_once(tmp_path, source, server, tmp_path / "second")
    first, second = data_files(tmp_path / "first"), data_files(tmp_path / "second")
    assert any("/execute/" in name for name in first), "the execute stage's shards are compared"
    assert any(name.endswith("/dataset/README.md") for name in first)
    cards = [name for name in first if name.endswith("/dataset/README.md")]
    card_texts = [(first.pop(name).decode(), second.pop(name).decode()) for name in cards]
    assert sorted(first) == sorted(second)
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"{len(differ)} of {len(first)} files differ, e.g. {differ[:3]}"
    for one, other in card_texts:
        assert split_card(one) == split_card(other)
