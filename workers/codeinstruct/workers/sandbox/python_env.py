"""The Python environment a sandbox runs programs with, mounted read-only inside.

`sandbox.python.packages` (default: `python-packages.txt`, a data-science set) is installed
once into a cached virtual environment keyed by a hash of the sorted list and the Python
version: under `$CODEINSTRUCT_PYTHON_ENVS`, else `$XDG_CACHE_HOME/codeinstruct/python-envs`,
else `~/.cache/codeinstruct/python-envs`. It is created in a temporary folder and renamed into
place when pip has finished (a crash leaves no half environment; two runs racing keep one), and
reused as it is afterwards. pip takes its packages from PyPI and its local cache.
`sandbox.python.prefix` names an existing environment instead (a venv or an installation, as in
the sandbox image); an empty package list runs the host's own interpreter with its standard
library only.

Inside the sandbox the supervisor runs the environment's base interpreter binary (isolated
mode, no `site`), with the environment's site-packages added to `sys.path`; the base
installation and the environment are bind-mounted read-only at their host paths.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.sandbox.python_packages import default_packages

log = logging.getLogger(__name__)

COMPLETE = "codeinstruct-env.json"
PIP_SECONDS = 1800
MIN_VERSION = (3, 10)
# Printed by the environment's own interpreter: where its pieces are.
_DESCRIBE = (
    "import json, os, site, sys; print(json.dumps({"
    "'interpreter': os.path.realpath(getattr(sys, '_base_executable', None) or sys.executable), "
    "'home': os.path.realpath(sys.base_prefix), 'prefix': os.path.realpath(sys.prefix), "
    "'site': [os.path.realpath(p) for p in site.getsitepackages() if os.path.isdir(p)], "
    "'version': list(sys.version_info[:2])}))"
)


@dataclass(frozen=True)
class PythonEnv:
    interpreter: str
    """The real interpreter binary the supervisor runs as."""
    home: str
    """The base installation (standard library, shared library)."""
    prefix: str
    """The environment itself (the same as `home` for a plain installation)."""
    site_dirs: tuple[str, ...] = ()
    """Its site-packages folders, added to `sys.path` inside the sandbox."""

    @property
    def mounts(self) -> tuple[str, ...]:
        """The folders a sandbox mounts read-only: the installation and the environment."""
        return tuple(dict.fromkeys([self.home, self.prefix]))


def host_python() -> PythonEnv:
    """This interpreter's own installation, standard library only."""
    interpreter = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    home = os.path.realpath(sys.base_prefix)
    return PythonEnv(interpreter, home, home)


def env_key(packages: Sequence[str], version: tuple[int, int] | None = None) -> str:
    """The cache key of an environment: the sorted list and the Python version."""
    major, minor = version or sys.version_info[:2]
    listed = "\n".join(sorted({p.strip() for p in packages if p.strip()}))
    digest = hashlib.sha256(f"python{major}.{minor}\n{listed}".encode()).hexdigest()
    return f"py{major}{minor}-{digest[:16]}"


def cache_root() -> Path:
    if os.environ.get("CODEINSTRUCT_PYTHON_ENVS"):
        return Path(os.environ["CODEINSTRUCT_PYTHON_ENVS"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "codeinstruct" / "python-envs"


def ensure_packages(packages: Sequence[str], root: Path | None = None) -> Path:
    """The cached environment holding `packages`, created first when it is not there yet."""
    root = root or cache_root()
    final = root / env_key(packages)
    if (final / COMPLETE).is_file():
        return final
    root.mkdir(parents=True, exist_ok=True)
    log.warning(
        "preparing the sandbox's Python environment (%s) in %s: done once, it takes minutes",
        ", ".join(packages),
        final,
    )
    building = root / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        _create(building, packages)
        if final.exists() and not (final / COMPLETE).is_file():  # not ours: no marker
            shutil.rmtree(final)
        try:
            building.rename(final)
        except OSError:  # another run finished first: keep its environment
            if not (final / COMPLETE).is_file():
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return final


def _create(folder: Path, packages: Sequence[str]) -> None:
    base = host_python().interpreter
    _run([base, "-m", "venv", "--without-pip", str(folder)], "create a virtual environment")
    if packages:
        pip = [sys.executable, "-m", "pip", "--python", str(folder / "bin" / "python")]
        pip += ["install", "--disable-pip-version-check", "--no-input", "-q", *packages]
        _run(pip, f"install {' '.join(packages)}")
    (folder / COMPLETE).write_text(json.dumps({"packages": sorted(packages)}) + "\n")
    for path in [folder, *folder.rglob("*")]:  # `nobody` runs the programs
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=PIP_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise UserError(f"sandbox.python.packages: could not {what}: {error}") from None
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise UserError(
            f"sandbox.python.packages: pip could not {what}:\n{tail}\nFix the list (names and "
            "versions as pip takes them, from PyPI), or set sandbox.python.prefix to an "
            "environment you prepared (`--python-prefix` on the command line)"
        )


def describe(prefix: str | Path, field: str = "sandbox.python.prefix") -> PythonEnv:
    """The environment at `prefix` (a virtual environment or a Python installation)."""
    python = next(
        (p for p in (Path(prefix) / "bin" / n for n in ("python3", "python")) if p.exists()), None
    )
    if python is None:
        raise UserError(
            f"{field}: {prefix} has no bin/python3: give the folder of a virtual environment or "
            "of a Python installation"
        )
    try:
        done = subprocess.run(
            [str(python), "-I", "-c", _DESCRIBE], capture_output=True, text=True, timeout=60
        )
        found = json.loads(done.stdout)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        raise UserError(f"{field}: {python} does not run as a Python interpreter") from None
    if tuple(found["version"]) < MIN_VERSION:
        raise UserError(
            f"{field}: {python} is Python {'.'.join(map(str, found['version']))}; the sandbox "
            f"needs Python {'.'.join(map(str, MIN_VERSION))} or newer"
        )
    sites = tuple(p for p in found["site"] if not p.startswith(found["home"] + "/"))
    if found["prefix"] == found["home"]:  # an installation: its own site-packages
        sites = tuple(found["site"])
    return PythonEnv(found["interpreter"], found["home"], found["prefix"], sites)


def resolve(packages: Sequence[str] | None, prefix: str | None) -> PythonEnv:
    """The sandbox's Python: `prefix`, else the cached environment of `packages` (None: the
    default list; empty: the host interpreter's standard library only)."""
    if prefix:
        return describe(prefix)
    wanted = default_packages() if packages is None else tuple(packages)
    if not wanted:
        return host_python()
    return describe(ensure_packages(wanted), "sandbox.python.packages")
