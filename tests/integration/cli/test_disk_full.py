"""A full disk under the output: one clear line naming the path and a non-zero exit; once space
is freed, the rerun resumes and writes what an uninterrupted run writes. Needs root (the test
mounts a small tmpfs)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import CLI

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def source(root: Path) -> Path:
    root.mkdir()
    for i in range(40):
        (root / f"mod{i}.py").write_text(
            "\n".join(
                f'def f{i}_{j}(values, limit={j}):\n    """Keep the values of mod {i} below '
                f'{j}, in order, for the caller."""\n    return [v for v in values if v < limit]\n'
                for j in range(12)
            )
        )
    return root


def spec_file(path: Path, src: Path, output: Path) -> Path:
    spec = {
        "apiVersion": "codeinstruct.dev/v1alpha1",
        "kind": "InstructionDataset",
        "metadata": {"name": "disk"},
        "spec": {
            "method": "selfcodealign",
            "targetSize": 1000,
            "source": {"uri": str(src), "filesPerShard": 4},
            "mining": {"dedup": {"threshold": 0.95}},
            "output": {"uri": str(output), "shardSize": 50},
        },
    }
    path.write_text(yaml.safe_dump(spec))
    return path


def run(spec: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "run", str(spec), "--until", "seed_dedup", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def data_files(output: Path) -> dict[str, bytes]:
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return {
        str(p.relative_to(run_dir)): p.read_bytes()
        for p in sorted(run_dir.rglob("*.jsonl"))
        if "/_done/" not in str(p)
    }


def test_disk_full_then_space_freed(tmp_path: Path, small_disk: Path) -> None:
    src = source(tmp_path / "src")
    reference = run(spec_file(tmp_path / "ref.yaml", src, tmp_path / "ref"))
    assert reference.returncode == 0, reference.stderr
    expected = data_files(tmp_path / "ref")
    assert sum(len(v) for v in expected.values()) > 320_000  # twice the disk

    spec = spec_file(tmp_path / "spec.yaml", src, small_disk / "out")
    full = run(spec)
    assert full.returncode != 0
    assert "Traceback" not in full.stderr, full.stderr[-3000:]
    (line,) = [x for x in full.stderr.splitlines() if x.startswith("error:")]
    assert str(small_disk / "out") in line and "no space left" in line, line

    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    rerun = run(spec)
    assert rerun.returncode == 0, rerun.stderr
    assert data_files(small_disk / "out") == expected
    assert not list((small_disk / "out").rglob("*.tmp"))
