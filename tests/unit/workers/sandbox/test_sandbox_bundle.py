from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from codeinstruct.workers.sandbox import bundle
from codeinstruct.workers.sandbox.box import Launcher, SandboxUnavailable
from codeinstruct.workers.sandbox.warm_pool import Pool

LAYOUT = bundle.Layout(
    "/root/.pyenv/versions/3.11.7/bin/python3.11",
    "/root/.pyenv/versions/3.11.7",
    (("/bin", "usr/bin"), ("/lib", "usr/lib")),
)


def test_oci_config_allow_lists_a_read_only_root_without_network_or_pids_limit() -> None:
    config = bundle.oci_config(LAYOUT, "/state/rootfs", "print('supervisor')")
    assert config["root"] == {"path": "/state/rootfs", "readonly": True}
    binds = {m["destination"]: m for m in config["mounts"] if m["type"] == "bind"}
    assert set(binds) <= {
        "/usr",
        "/etc",
        "/root/.pyenv/versions/3.11.7",
        "/sbin",
        "/lib64",
        "/lib32",
        "/libx32",
    }
    assert "/root/.pyenv/versions/3.11.7" in binds
    assert all("ro" in m["options"] for m in binds.values())
    host_data = ["/root", "/home", "/work", "/opt", "/var", "/mnt", "/srv", "/tmp"]
    assert not any(m["source"] in host_data for m in binds.values())
    scratch = next(m for m in config["mounts"] if m["destination"] == "/tmp")
    assert scratch["type"] == "tmpfs"
    assert {"type": "network"} in config["linux"]["namespaces"]
    assert "resources" not in config["linux"]  # no OCI pids limit: it kills the whole sandbox
    assert config["process"]["args"][0] == LAYOUT.interpreter
    assert config["process"]["args"][-1] == "print('supervisor')"
    json.dumps(config)


def test_interpreter_under_usr_needs_no_extra_mount() -> None:
    layout = bundle.Layout("/usr/bin/python3.11", "/usr", ())
    assert bundle.extra_mounts(layout) == []
    assert bundle.extra_mounts(LAYOUT) == ["/root/.pyenv/versions/3.11.7"]


def test_rootfs_skeleton_has_mount_points_and_links(tmp_path: Path) -> None:
    root = bundle.make_rootfs(tmp_path / "rootfs", LAYOUT)
    assert (root / "root/.pyenv/versions/3.11.7").is_dir()
    assert (root / "tmp").is_dir() and (root / "proc").is_dir()
    assert (root / "bin").is_symlink() and str((root / "bin").readlink()) == "usr/bin"
    assert not any((root / "root/.pyenv/versions/3.11.7").iterdir())


def test_bwrap_argv_unshares_network_and_hides_host_data() -> None:
    argv = bundle.bwrap_argv(LAYOUT, "print(1)")
    assert "--unshare-net" in argv and "--unshare-pid" in argv
    assert argv[argv.index("--tmpfs") + 1] == "/tmp"
    bound = [argv[i + 1] for i, a in enumerate(argv) if a == "--ro-bind"]
    assert "/" not in bound and "/root" not in bound and "/work" not in bound


def test_missing_runsc_is_a_clear_user_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxUnavailable) as error:
        Launcher("gvisor")  # type: ignore[arg-type]
    message = str(error.value)
    assert "apt-get install runsc" in message
    assert "bubblewrap" in message and "none" in message


def test_broken_runsc_is_a_clear_user_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "runsc"
    fake.write_text(
        "#!/bin/sh\necho 'runsc: cannot create sandbox: permission denied' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    with pytest.raises(SandboxUnavailable) as error:
        Pool("gvisor", workers=1)
    message = str(error.value)
    assert "does not start" in message and "permission denied" in message
    assert "apt-get install runsc" in message and "bubblewrap" in message
