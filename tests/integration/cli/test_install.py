"""`pip install .` and `pip install -e .` into a fresh virtual environment, and that nothing
shadows the standard library's `operator` module."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

pytestmark = pytest.mark.slow

CHECK = (
    "import operator, sysconfig, codeinstruct.workers.cli, codeinstruct.operator;"
    "stdlib = sysconfig.get_paths()['stdlib'];"
    "assert operator.__file__.startswith(stdlib), operator.__file__;"
    "assert hasattr(operator, 'itemgetter');"
    "print(codeinstruct.workers.cli.__file__)"
)


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_fresh_venv_install(tmp_path: Path, editable: bool) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # Dependencies come from this environment (no download); the package itself is built fresh.
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = subprocess.run(
        [str(python), "-c", purelib], capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(site, "_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [str(python), "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run([*pip, *(["-e"] if editable else []), str(REPO)], check=True)
    # What the fresh environment itself finds: no PYTHONPATH from the caller's shell.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for cwd in (tmp_path, REPO, REPO / "operator"):
        result = subprocess.run(
            [str(python), "-c", CHECK], cwd=cwd, capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, (cwd, result.stderr)
        location = Path(result.stdout.strip())
        assert (location.is_relative_to(REPO)) == editable, location
    version = subprocess.run(
        [str(venv / "bin" / "codeinstruct"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert version.stdout.startswith("codeinstruct ")
