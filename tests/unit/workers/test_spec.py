from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from codeinstruct.workers.cli import main
from codeinstruct.workers.spec import SpecError, load_spec, parse_spec, run_signature
from tests.helpers.crd import cel_errors, schema_errors
from tests.helpers.paths import EXAMPLES
from tests.helpers.specs import make_dataset


def problems(document: object) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(document)
    return caught.value.problems


def base(**spec: object) -> dict[str, object]:
    return {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "x"},
        "spec": {"method": "selfcodealign", "targetSize": 10, **spec},
    }


def test_defaults_are_filled_in() -> None:
    spec = make_dataset().spec
    assert spec.generator.backend == "embedded"
    assert spec.sandbox.isolation == "gvisor"
    assert spec.scoring.tau == 0.945
    assert spec.mining.dedup.threshold == 0.5 and spec.mining.dedup.tokenization == "reference"
    assert spec.mining.undefined_names
    assert spec.selfcodealign.dedup.threshold == 0.7
    assert (spec.selfcodealign.concept_shots, spec.selfcodealign.instruction_shots) == (8, 8)
    assert spec.selfcodealign.response_shots == 1
    assert spec.decontamination.ngram_sizes == [4, 5]
    assert spec.output.format == "jsonl"


def test_each_problem_is_one_line_with_its_field_path() -> None:
    found = problems(base(targetSize=-3, method="magic", outptu={}))
    assert "spec.targetSize: must be > 0, got -3" in found
    assert any(p.startswith("spec.method: must be one of") and "'magic'" in p for p in found)
    assert "spec.outptu: unknown field (check the spelling; fields are camelCase)" in found
    assert len(found) == 3


def test_nested_fields_and_cross_field_rules() -> None:
    found = problems(base(generator={"sampling": {"temperature": 9}}))
    assert found == ["spec.generator.sampling.temperature: must be <= 2, got 9"]
    found = problems(base(generator={"backend": "openai"}))
    assert found == ["spec.generator: endpoint is required when backend is `openai`"]


def test_missing_required_field() -> None:
    assert problems(base(targetSize=None) | {"spec": {"method": "xcoder"}}) == [
        "spec.targetSize: required field is missing"
    ]


def test_signature_ignores_scaling_knobs_but_not_semantics() -> None:
    reference = run_signature(make_dataset().spec)
    scaled = make_dataset(
        generator={"concurrency": 3}, sandbox={"workers": 9}, output={"uri": "/elsewhere"}
    )
    assert run_signature(scaled.spec) == reference
    assert run_signature(make_dataset(seed=1).spec) != reference
    assert run_signature(make_dataset(scoring={"tau": 0.9}).spec) != reference
    assert run_signature(make_dataset(generator={"model": "other.gguf"}).spec) != reference


def test_cli_validate_reports_problems_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # In-process: the same `main` the console script runs (its start-up is tested in
    # tests/integration); a traceback would surface here as the exception itself.
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: codeinstruct.dev/v1alpha1\nkind: InstructionDataset\n"
        "spec:\n  method: selfcodealign\n  targetSize: -3\n"
    )
    assert main(["validate", str(bad)]) == 2
    stderr = capsys.readouterr().err
    assert "spec.targetSize: must be > 0, got -3" in stderr
    assert "Traceback" not in stderr

    broken = tmp_path / "broken.yaml"
    broken.write_text("spec: [unclosed\n")
    assert main(["validate", str(broken)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_is_valid_here_and_for_the_api_server(path: Path) -> None:
    load_spec(path)  # raises SpecError on a problem
    document = yaml.safe_load(path.read_text())
    assert schema_errors(document) == []
    assert cel_errors(document["spec"]) == []


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("endpoint", ["not a url", "localhost:8000/v1", "ftp://x/v1", "http://"])
def test_an_endpoint_that_is_not_a_url_is_a_validation_error(endpoint: str) -> None:
    found = problems(base(generator={"backend": "openai", "endpoint": endpoint, "model": "m"}))
    assert len(found) == 1 and found[0].startswith("spec.generator.endpoint: "), found
    assert repr(endpoint) in found[0] and "http://" in found[0]
    found = problems(base(sandbox={"endpoint": endpoint}))
    assert len(found) == 1 and found[0].startswith("spec.sandbox.endpoint: "), found
    valid = base(generator={"backend": "openai", "endpoint": "https://vllm:8000/v1", "model": "m"})
    assert parse_spec(valid).spec.generator.endpoint == "https://vllm:8000/v1"


def test_a_partial_sanitize_dedup_keeps_its_own_default_threshold() -> None:
    spec = make_dataset(selfcodealign={"dedup": {"numPerm": 128}}).spec
    assert spec.selfcodealign.dedup.threshold == 0.7 and spec.selfcodealign.dedup.num_perm == 128
    assert make_dataset(mining={"dedup": {"numPerm": 128}}).spec.mining.dedup.threshold == 0.5
