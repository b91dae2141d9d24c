"""`codeinstruct crd` and `codeinstruct render`; the data plane CLI never imports kopf."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import CLI
from tests.helpers.paths import REPO


def test_cli_does_not_import_the_operator_runtime() -> None:
    code = (
        "import sys; from codeinstruct.workers.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('kopf', 'kubernetes') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_crd_check_and_write(tmp_path: Path) -> None:
    check = subprocess.run([*CLI, "crd", "--check"], cwd=REPO, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    stale = tmp_path / "crd.yaml"
    stale.write_text("old\n")
    failed = subprocess.run(
        [*CLI, "crd", "--check", "-o", str(stale)], capture_output=True, text=True
    )
    assert failed.returncode == 1 and "codeinstruct crd" in failed.stdout
    subprocess.run([*CLI, "crd", "-o", str(stale)], check=True, capture_output=True)
    assert stale.read_text() == (REPO / "crds" / "instructiondatasets.yaml").read_text()


def test_render_command() -> None:
    sample = REPO / "crds" / "samples" / "instructiondataset.xcoder.yaml"
    out = subprocess.run(
        [*CLI, "render", str(sample), "-n", "ml"], capture_output=True, text=True, check=True
    )
    kinds = [d["kind"] for d in yaml.safe_load_all(out.stdout)]
    assert "Deployment" in kinds and "Job" in kinds
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(out.stdout)]
    assert "xcoder-pool-vllm" not in names  # external endpoint: no vLLM


def test_render_reports_spec_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: codeinstruct.dev/v1alpha1\nkind: InstructionDataset\n"
        "metadata: {name: x}\nspec: {method: xcoder, targetSize: 0}\n"
    )
    out = subprocess.run([*CLI, "render", str(bad)], capture_output=True, text=True)
    assert out.returncode == 2 and "targetSize" in out.stderr and "Traceback" not in out.stderr
