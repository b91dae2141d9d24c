"""Whether this process runs under gVisor (for `sandbox serve --isolation none`, which relies on
the pod's `runtimeClassName: gvisor` and must not trust the name alone).

gVisor's kernel identifies itself in two places a process can read without privileges: its
`/proc/version` is a fixed fake Linux 4.4.0 string, and its kernel log (`dmesg`) starts with
"Starting gVisor...". Either one is enough; a host kernel shows neither.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# gVisor's fixed /proc/version (sentry/fsimpl/proc: it has not changed since 2018).
PROC_VERSION = "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016"
KERNEL_LOG = "Starting gVisor"


def signatures(proc_version: str, kernel_log: str) -> list[str]:
    """Which gVisor signatures the texts show (pure)."""
    found = []
    if proc_version.strip().startswith(PROC_VERSION):
        found.append("/proc/version")
    if KERNEL_LOG in kernel_log:
        found.append("dmesg")
    return found


def _kernel_log() -> str:
    try:
        done = subprocess.run(["dmesg"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout


def detect() -> list[str]:
    """The gVisor signatures of the kernel this process runs on (empty: not gVisor)."""
    try:
        version = Path("/proc/version").read_text(encoding="utf-8", errors="replace")
    except OSError:
        version = ""
    found = signatures(version, "")
    return found or signatures(version, _kernel_log())
