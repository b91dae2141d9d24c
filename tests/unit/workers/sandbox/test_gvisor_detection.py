"""The gVisor signatures `sandbox serve --isolation none` looks for (pure)."""

from __future__ import annotations

from codeinstruct.workers.sandbox.gvisor import signatures

GVISOR_VERSION = "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016\n"
HOST_VERSION = "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) #1 SMP Debian\n"


def test_either_signature_is_enough_and_a_host_kernel_shows_none() -> None:
    assert signatures(GVISOR_VERSION, "") == ["/proc/version"]
    assert signatures(HOST_VERSION, "[    0.000000] Starting gVisor...\n") == ["dmesg"]
    assert signatures(HOST_VERSION, "[    0.000000] Linux version 6.1.0\n") == []
    assert signatures("", "") == []
