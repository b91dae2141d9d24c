"""The sandbox's Python environment: its cache key, reuse of a finished environment, the
read-only mounts and `sys.path` it gives a sandbox, the spec field, and the sandbox image that
carries the same default list."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from codeinstruct.operator.builders.sandbox import python_args
from codeinstruct.workers.errors import UserError
from codeinstruct.workers.sandbox import bundle, python_env
from codeinstruct.workers.sandbox.box import supervisor_source
from codeinstruct.workers.sandbox.python_packages import (
    IMAGE_PREFIX,
    PACKAGES_FILE,
    default_packages,
)
from codeinstruct.workers.spec import Sandbox
from codeinstruct.workers.spec.models import SandboxPython

ROOT = Path(__file__).parents[4]
DOCKERFILE = ROOT / "images" / "sandbox" / "Dockerfile"


def test_the_key_is_the_sorted_list_and_the_python_version() -> None:
    key = python_env.env_key(["pandas==3.1.1", "numpy==2.4.6"], (3, 11))
    assert key == python_env.env_key(["numpy==2.4.6", "pandas==3.1.1"], (3, 11))
    assert key != python_env.env_key(["numpy==2.4.6"], (3, 11))
    assert key != python_env.env_key(["numpy==2.4.6", "pandas==3.1.1"], (3, 12))
    assert key.startswith("py311-")


def test_a_finished_environment_is_reused_and_an_unfinished_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[Path] = []

    def create(folder: Path, packages: list[str]) -> None:
        built.append(folder)
        folder.mkdir()
        (folder / python_env.COMPLETE).write_text("{}")

    monkeypatch.setattr(python_env, "_create", create)
    half = tmp_path / python_env.env_key(["numpy"])
    half.mkdir()  # a folder without its completion marker (not written by us): replaced
    (half / "junk").write_text("")
    first = python_env.ensure_packages(["numpy"], tmp_path)
    again = python_env.ensure_packages(["numpy"], tmp_path)
    assert first == again == half
    assert not (half / "junk").exists()
    assert len(built) == 1  # the second call reused the finished environment
    assert [p.name for p in tmp_path.iterdir()] == [half.name]  # no temporary folders left


def test_a_prefix_without_an_interpreter_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"sandbox\.python\.prefix: .* has no bin/python3"):
        python_env.describe(tmp_path)


def test_the_environment_is_mounted_read_only_and_on_sys_path() -> None:
    env = python_env.PythonEnv(
        "/opt/py/bin/python3.11", "/opt/py", "/cache/env", ("/cache/env/lib",)
    )
    layout = bundle.host_layout(env.interpreter, env.home, env.mounts)
    config = bundle.oci_config(layout, "/state/rootfs", "pass")
    mounts = {m["destination"]: m for m in config["mounts"]}
    assert "ro" in mounts["/cache/env"]["options"] and "ro" in mounts["/opt/py"]["options"]
    argv = bundle.bwrap_argv(layout, "pass")
    assert argv[argv.index("/cache/env") - 1 :][:3] == ["--ro-bind", "/cache/env", "/cache/env"]
    source = supervisor_source(env.site_dirs)
    assert "site.addsitedir('/cache/env/lib')" in source
    assert "addsitedir" not in supervisor_source()


def test_the_spec_default_is_the_package_file_and_prefix_excludes_packages() -> None:
    assert Sandbox().python.packages == list(default_packages())
    assert {"numpy", "pandas"} <= {re.split(r"[=<>!~\[]", p)[0] for p in default_packages()}
    with pytest.raises(ValidationError, match="either packages or prefix"):
        SandboxPython(packages=["numpy"], prefix="/opt/env")
    assert SandboxPython(prefix="/opt/env").prefix == "/opt/env"


def test_the_sandbox_image_installs_the_default_list_where_the_operator_looks() -> None:
    text = DOCKERFILE.read_text()
    copied = re.search(r"^COPY (\S*python-packages\.txt) (\S+)$", text, re.MULTILINE)
    assert copied is not None
    assert ROOT / copied.group(1) == PACKAGES_FILE
    assert re.search(rf"install -r {re.escape(copied.group(2))}", text)
    assert f"venv --without-pip {IMAGE_PREFIX}" in text
    assert f'"--python-prefix", "{IMAGE_PREFIX}"' in text
    assert python_args(SandboxPython()) == ["--python-prefix", IMAGE_PREFIX]
    assert python_args(SandboxPython(packages=["sympy==1.14.0"])) == [
        "--python-packages",
        "sympy==1.14.0",
    ]
