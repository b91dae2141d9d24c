"""How a dead embedded server is described: its signal or exit status and its log's last words
(a real short-lived process stands in for llama.cpp)."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from codeinstruct.workers.llm.embedded import EmbeddedServer


@pytest.mark.parametrize(
    ("script", "kill", "how"),
    [
        ("echo loading; echo serving; exec sleep 30", signal.SIGSEGV, "killed by SIGSEGV"),
        ("echo loading; echo serving; exec sleep 30", 40, "killed by signal 40"),  # real-time
        ("echo loading; echo serving; exit 3", None, "exit status 3"),
    ],
)
def test_death_names_how_the_server_ended_and_its_last_lines(
    script: str, kill: int | None, how: str
) -> None:
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(["sh", "-c", script], stdout=log)
        server = EmbeddedServer("http://127.0.0.1:1/v1", Path("model.gguf"), process, log)
        if kill is not None:
            # Its own read offset: the child writes through the shared one.
            with open(f"/proc/self/fd/{log.fileno()}", "rb") as written:
                while b"serving" not in written.read():
                    written.seek(0)
                    time.sleep(0.01)
            assert server.death() is None, "alive"
            process.send_signal(kill)
        process.wait()
        assert server.death() == (
            f"the embedded llama.cpp server died ({how}); its log ends: loading | serving"
        )
