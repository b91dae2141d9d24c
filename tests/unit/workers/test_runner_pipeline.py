"""The runner's pipeline checks: inputs produced upstream before any request, and the dataset
exported only when the method's last stage ran."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from codeinstruct.workers.errors import PipelineError
from codeinstruct.workers.methods import method_stages
from codeinstruct.workers.runner import Runner, run_prefix
from codeinstruct.workers.stages.base import missing_inputs
from codeinstruct.workers.stages.instructions import WriteInstructions
from codeinstruct.workers.stages.seeds import MineSeeds
from codeinstruct.workers.store import LocalStore
from tests.conftest import make_dataset
from tests.fakes import FakeLLM


def seed_dir(root: Path) -> Path:
    root.mkdir()
    # Three different functions: the seed dedup (reference tokenisation, 0.5) keeps them all.
    source = textwrap.dedent('''
        def scale(values, factor):
            """Return each value of the list multiplied by the factor."""
            return [v * factor for v in values]


        def longest_word(sentence):
            """The longest word of a sentence, the first one on a tie."""
            return max(sentence.split(), key=len)


        def is_palindrome(text):
            """Whether text reads the same backwards, ignoring case and spaces."""
            cleaned = text.replace(" ", "").lower()
            return cleaned == cleaned[::-1]
        ''')
    (root / "seeds.py").write_text(source)
    return root


def test_until_an_earlier_stage_exports_no_dataset(tmp_path: Path) -> None:
    dataset = make_dataset(
        source={"uri": str(seed_dir(tmp_path / "src"))},
        decontamination={"benchmarks": []},
        output={"uri": str(tmp_path / "out")},
    )
    report = Runner(dataset, progress=False).run(until="seed_dedup")
    store = LocalStore(tmp_path / "out")
    prefix = run_prefix(dataset)
    assert store.exists(f"{prefix}/stages/seed_dedup/_complete.json")
    assert not store.list(f"{prefix}/dataset"), "no dataset/ before the method's last stage"
    assert report.dataset_uri == "" and report.records == 3


@pytest.mark.parametrize(
    "spec",
    [
        {"method": "selfcodealign"},
        {"method": "selfcodealign", "mining": {"typeCheck": True}},
        {"method": "wavecoder"},
        {"method": "xcoder"},
        {"method": "xcoder", "scoring": {"complexityScorer": "length", "qualityScorer": "none"}},
    ],
)
def test_every_method_pipeline_gets_its_inputs_upstream(spec: dict[str, object]) -> None:
    stages = method_stages(make_dataset(**spec).spec)
    assert missing_inputs(stages) == []
    assert all(stage.name for stage in stages)


def test_a_stage_without_its_inputs_stops_the_run_before_any_request(tmp_path: Path) -> None:
    dataset = make_dataset(
        source={"uri": str(seed_dir(tmp_path / "src"))}, output={"uri": str(tmp_path / "out")}
    )
    spec = dataset.spec
    llm = FakeLLM(lambda request: "<instruction>\nx\n</instruction>")
    # Instructions are written from concepts: without the concepts stage nothing adds them.
    stages = [MineSeeds(spec.source, spec.mining), WriteInstructions(spec.generator.sampling)]
    runner = Runner(dataset, progress=False, provided={"llm": llm})
    with pytest.raises(PipelineError, match=r"'instructions' needs \['concepts'\]"):
        runner.run_stages(stages)
    assert llm.requests == [] and not (tmp_path / "out").exists()
