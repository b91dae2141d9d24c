"""The default Python packages of sandboxed programs (pure): `python-packages.txt`, the single
list read by the spec's default `sandbox.python.packages`, the sandbox image's Dockerfile and
`scripts/install.sh` (through `codeinstruct sandbox python-env`)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PACKAGES_FILE = Path(__file__).with_name("python-packages.txt")
# Where the sandbox image (images/sandbox/Dockerfile) holds the environment of that list.
IMAGE_PREFIX = "/opt/codeinstruct/python"


@cache
def default_packages() -> tuple[str, ...]:
    """The requirement lines of `python-packages.txt` (comments and blank lines left out)."""
    lines = PACKAGES_FILE.read_text(encoding="utf-8").splitlines()
    return tuple(s for line in lines if (s := line.split("#", 1)[0].strip()))
