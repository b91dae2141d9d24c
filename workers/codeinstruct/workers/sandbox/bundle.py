"""What a sandbox sees (pure): the OCI config for `runsc run` and the `bwrap` command line.

The root is built from an allow-list, not from the host's "/" with holes punched in it: an empty
read-only skeleton into which the system directories (`/usr`, `/etc`, the `/bin`-style links)
and the interpreter's installation are bind-mounted read-only, plus an empty tmpfs at `/tmp` for
the jobs' working directories. Everything else on the host (the checkout, /root, /home, /work,
/opt, /var, /mnt, ...) simply does not exist inside. There is no network device but loopback.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Host directories bind-mounted read-only (those that exist); nothing else is visible.
SYSTEM_DIRS = ("/usr", "/etc")
# Top-level links kept as links when the host has them (merged-/usr Debian: /bin -> usr/bin).
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Where jobs get their fresh working directories (an in-memory tmpfs).
SCRATCH = "/tmp"
SCRATCH_MIB = 512
ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": SCRATCH,
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
    # The supervisor is alone in its PID namespace (gVisor, bwrap): it may kill(-1) as nobody.
    "CODEINSTRUCT_OWN_PIDS": "1",
}


# What a job could write in a sandbox of ours besides the scratch directory: emptied after
# each job (the supervisor's `wipe`). Only inside a sandbox, never the host's /tmp.
BOX_ENV = {**ENV, "CODEINSTRUCT_WIPE": f"{SCRATCH}:/dev/shm"}
# Under `none`, set by the sandbox pod on its container: the pod's writable directories.
POD_WIPE = "CODEINSTRUCT_SANDBOX_WIPE"


@dataclass(frozen=True)
class Layout:
    """The host paths a sandbox is built from."""

    interpreter: str
    """The real interpreter binary (not a shim), run inside as the supervisor."""
    prefix: str
    """The interpreter's installation directory (its stdlib and shared library live there)."""
    links: tuple[tuple[str, str], ...] = ()
    """(path, target) of the top-level links to recreate, e.g. ("/bin", "usr/bin")."""
    extra: tuple[str, ...] = ()
    """More host folders mounted read-only (the Python environment, `python_env.py`)."""


def host_layout(interpreter: str, prefix: str, extra: tuple[str, ...] = ()) -> Layout:
    """The layout for this host: which of `SYSTEM_LINKS` are links, and to where."""
    links = tuple((path, os.readlink(path)) for path in SYSTEM_LINKS if os.path.islink(path))
    real = tuple(os.path.realpath(p) for p in extra)
    return Layout(os.path.realpath(interpreter), os.path.realpath(prefix), links, real)


def extra_mounts(layout: Layout) -> list[str]:
    """Host directories bind-mounted read-only besides the system ones: the interpreter's home
    and the `extra` ones."""
    paths = dict.fromkeys([layout.prefix, *layout.extra])
    return [p for p in paths if not any(p == d or p.startswith(d + "/") for d in SYSTEM_DIRS)]


def mount_points(layout: Layout) -> list[str]:
    """Directories the (empty) root skeleton must contain for the mounts to land on."""
    return ["/proc", "/dev", "/sys", SCRATCH, *SYSTEM_DIRS, *extra_mounts(layout)]


def make_rootfs(root: Path, layout: Layout) -> Path:
    """Create the empty skeleton at `root` (idempotent); returns it."""
    for point in mount_points(layout):
        (root / point.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for path, target in layout.links:
        link = root / path.lstrip("/")
        if not link.is_symlink():
            link.symlink_to(target)
    for path in [*SYSTEM_LINKS]:
        if not os.path.lexists(path) or os.path.islink(path):
            continue
        (root / path.lstrip("/")).mkdir(exist_ok=True)
    return root


def none_env(layout: Layout, environ: dict[str, str]) -> dict[str, str]:
    """The wipe settings of a `none` supervisor: the directories the pod names in `POD_WIPE`
    (its emptyDir /tmp, /dev/shm), keeping the Python environment (it may live under /tmp)."""
    return {
        "CODEINSTRUCT_WIPE": environ.get(POD_WIPE, ""),
        "CODEINSTRUCT_KEEP": ":".join([layout.prefix, *layout.extra]),
    }


def command(layout: Layout, supervisor_source: str) -> list[str]:
    """The supervisor's command line inside the sandbox (isolated mode: no site, no env)."""
    return [layout.interpreter, "-I", "-S", "-c", supervisor_source]


def _bind(path: str) -> dict[str, Any]:
    return {
        "destination": path,
        "type": "bind",
        "source": path,
        "options": ["rbind", "ro", "nosuid", "nodev"],
    }


def oci_config(layout: Layout, rootfs: str, supervisor_source: str) -> dict[str, Any]:
    """The OCI runtime config for `runsc run`: read-only allow-listed root, no network."""
    binds = [
        path
        for path in [*SYSTEM_DIRS, *[p for p in SYSTEM_LINKS if not _is_link(layout, p)]]
        if os.path.isdir(path) and not os.path.islink(path)
    ]
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
        {
            "destination": SCRATCH,
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "nodev", "mode=1777", f"size={SCRATCH_MIB}m"],
        },
        *[_bind(p) for p in binds],
        *[_bind(p) for p in extra_mounts(layout)],
    ]
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": command(layout, supervisor_source),
            "env": [f"{k}={v}" for k, v in BOX_ENV.items()],
            "cwd": SCRATCH,
            "capabilities": _capabilities(),
            "noNewPrivileges": True,
        },
        "root": {"path": rootfs, "readonly": True},
        "hostname": "sandbox",
        "mounts": mounts,
        "linux": {
            # No network namespace path: a fresh one; `--network=none` leaves only loopback.
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
        },
    }


def _is_link(layout: Layout, path: str) -> bool:
    return any(link == path for link, _ in layout.links)


def _capabilities() -> dict[str, list[str]]:
    # The supervisor (root inside) only needs to hand jobs to `nobody` and clean up after them.
    caps = [
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_CHOWN",
        "CAP_FOWNER",
        "CAP_KILL",
        "CAP_DAC_OVERRIDE",
    ]
    return {key: caps for key in ("bounding", "effective", "permitted")}


def bwrap_argv(layout: Layout, supervisor_source: str) -> list[str]:
    """The `bwrap` command line: same allow-listed view, Linux namespaces only (weaker)."""
    # No user namespace: `nobody` must be the real one, so run as root with a few capabilities.
    argv = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    argv += ["--unshare-cgroup-try", "--die-with-parent", "--new-session"]
    for cap in _capabilities()["bounding"]:
        argv += ["--cap-add", cap]
    for path in SYSTEM_DIRS:
        if os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in SYSTEM_LINKS:
        if _is_link(layout, path):
            argv += ["--symlink", dict(layout.links)[path], path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for path in extra_mounts(layout):
        # bwrap copies the host's modes onto the parents it creates (/root is 0700): open them.
        for parent in reversed(Path(path).parents[:-1]):
            argv += ["--perms", "0755", "--dir", str(parent)]
        argv += ["--ro-bind", path, path]
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--size",
        str(SCRATCH_MIB << 20),
        "--tmpfs",
        SCRATCH,
    ]
    argv += ["--chdir", SCRATCH]
    argv += ["--clearenv"]
    for key, value in BOX_ENV.items():
        argv += ["--setenv", key, value]
    return [*argv, "--", *command(layout, supervisor_source)]
