"""The reliability audit's bad specs and CLI inputs (findings F11, F15, F16, F19): spec values that
would crash after the paid stages are rejected by `validate` with the field named; user text is
never read as console markup; bad files and outputs end in one clear line and exit status 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from codeinstruct.workers import termination
from codeinstruct.workers.cli import main
from tests.helpers.specs import spec_document, write_spec

GOOD = 'def area(radius):\n    """Return the area of a circle of this radius."""\n    return 3 * radius\n'


def validate(tmp_path: Path, capsys: pytest.CaptureFixture[str], **spec: Any) -> tuple[int, str]:
    path = write_spec(tmp_path / "spec.yaml", **spec)
    status = main(["validate", str(path)])
    return status, capsys.readouterr().err


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"decontamination": {"ngramSizes": []}}, "decontamination.ngramSizes"),
        ({"method": "wavecoder", "wavecoder": {"taskTypes": []}}, "wavecoder.taskTypes"),
        (
            {"method": "wavecoder", "wavecoder": {"translationTargets": []}},
            "wavecoder.translationTargets",
        ),
        ({"mining": {"bannedWords": ["todo", ""]}}, "mining.bannedWords.1"),
        ({"decontamination": {"benchmarks": [{"name": "x", "path": "b.jsonl", "fields": []}]}},
         "decontamination.benchmarks.0.fields"),
        ({"seed": True}, "seed"),
    ],
)  # fmt: skip
def test_values_that_would_crash_later_are_rejected_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: dict[str, Any], field: str
) -> None:
    status, err = validate(tmp_path, capsys, **spec)
    assert status == 2
    assert f": spec.{field}: " in err, err
    assert "Traceback" not in err


def test_a_benchmark_file_that_is_not_utf8_is_rejected_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = tmp_path / "bench.jsonl"
    bench.write_bytes(json.dumps({"prompt": "def f(x): return x"}).encode() + b"\n\xff\xfe\n")
    status, err = validate(
        tmp_path, capsys, decontamination={"benchmarks": [{"name": "mine", "path": str(bench)}]}
    )
    assert status == 2
    assert "decontamination.benchmarks[mine].path" in err and "bench.jsonl:2: not UTF-8" in err


def test_duplicate_keys_and_a_non_utf8_spec_file_are_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "dup.yaml"
    text = yaml.safe_dump(spec_document(targetSize=5), sort_keys=False)
    path.write_text(text.replace("  targetSize: 5\n", "  targetSize: 5\n  targetSize: 7\n"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "targetSize" in err and "duplicate" in err and err.count("\n") == 1, err
    path.write_bytes(text.encode("utf-16"))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not UTF-8" in err and err.count("\n") == 1, err


def test_user_text_is_never_read_as_console_markup(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_document(name="[/bold]")))
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "'[/bold]'" in err and "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" in err, err


@pytest.fixture
def seeds_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(termination, "stop_on_sigterm_like_ctrl_c", lambda: None)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "good.py").write_text(GOOD)
    return write_spec(tmp_path / "spec.yaml", source={"uri": str(tmp_path / "src")})


def run_seeds(spec: Path, output: str) -> int:
    return main(["run", str(spec), "--until", "seeds", "--no-progress", "--output", output])


def test_an_output_path_with_brackets_is_printed_as_given(
    tmp_path: Path, seeds_spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out[/x]" / "[bold]data"
    assert run_seeds(seeds_spec, str(output)) == 0
    err = capsys.readouterr().err
    assert f"output {output}/" in err, err
    assert any(output.iterdir())


@pytest.mark.parametrize("kind", ["a file", "unwritable"])
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(
    tmp_path: Path, seeds_spec: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    if kind == "a file":
        output = tmp_path / "taken"
        output.write_text("not a folder")
    else:
        output = Path("/proc/self/nope")
    assert run_seeds(seeds_spec, str(output)) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and str(output) in errors[0], err
