"""End to end against the real embedded llama.cpp server with SmolLM2-135M-Instruct."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from codeinstruct.workers.llm import Completion, InfraFailure, LLMClient
from codeinstruct.workers.llm.backends import llm_for
from codeinstruct.workers.llm.embedded import EmbeddedServer, start_embedded
from codeinstruct.workers.llm.logprobs import expected_digit_score
from codeinstruct.workers.prompts.xcoder import format as xcoder
from codeinstruct.workers.spec import Generator
from tests.helpers.paths import CLI
from tests.helpers.runs import RunOutput
from tests.helpers.specs import write_spec
from tests.helpers.stages import stage_services

pytestmark = [pytest.mark.llm, pytest.mark.slow]

SEEDS = '''
def clamp(value, low, high):
    """Return value limited to the closed range from low to high."""
    return max(low, min(value, high))


def count_vowels(text):
    """Return how many vowels (a, e, i, o, u, any case) the text contains."""
    return sum(1 for ch in text.lower() if ch in "aeiou")


def is_palindrome(word):
    """Return True when the word reads the same backwards, ignoring case."""
    return word.lower() == word.lower()[::-1]
'''


def test_complexity_prompt_against_the_real_server() -> None:
    with ExitStack() as stack:
        server = start_embedded(Generator(), stack)
        client = LLMClient(server.base_url, str(server.model_path), concurrency=1)
        stack.callback(client.close)  # its own event loop and HTTP session
        result = client.run(
            client.complete(
                xcoder.format_complexity("Write a function that adds two numbers."),
                max_tokens=xcoder.COMPLEXITY_MAX_TOKENS,
                temperature=0.0,
                logprobs=xcoder.COMPLEXITY_TOP_LOGPROBS,
            )
        )
        process = server.process
    assert process.poll() is not None, "the server stops with the ExitStack"
    assert isinstance(result, Completion) and result.completion_tokens >= 1
    score = expected_digit_score(result.logprobs[0])
    assert score is not None and 0.0 <= score <= 5.0


def test_small_selfcodealign_run_on_the_embedded_server(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "seeds.py").write_text(textwrap.dedent(SEEDS))
    path = write_spec(
        tmp_path / "spec.yaml",
        "embedded",
        method="selfcodealign",
        targetSize=3,
        source={"uri": str(source)},
        generator={
            "backend": "embedded",
            "sampling": {"maxTokens": 320, "samplesPerInstruction": 3, "temperature": 0.7},
        },
        decontamination={"benchmarks": []},
        # 2 shots, not the reference's 8: a 135M model on 2 busy cores reads 4x less.
        selfcodealign={"conceptShots": 2, "instructionShots": 2},
        output={"uri": str(tmp_path / "out")},
    )
    result = subprocess.run(
        [*CLI, "run", str(path), "--until", "responses", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert result.returncode == 0, result.stderr
    run = RunOutput(tmp_path / "out")
    instructions = run.records("instructions")
    assert instructions, "the model wrote at least one instruction"
    for record in instructions:
        assert record["instruction"] and record["concepts"]
        assert record["category"] in {"function", "class", "program"}
    stats = run.stats("responses")
    assert stats.counters["samples"] == 3 * len(instructions)
    assert stats.counters["completion_tokens"] > 0
    responses = run.records("responses")
    dropped = sum(stats.dropped.values())
    assert len(responses) + dropped == stats.counters["samples"]
    for record in responses:
        assert record["response"] and record["code"] and "assert" in record["tests"]
    print(f"parsable responses: {len(responses)} of {stats.counters['samples']}")


def test_a_crashed_server_fails_requests_at_once_saying_how_it_died(tmp_path: Path) -> None:
    """A llama.cpp that segfaults (as its AMX build did on this machine) is named as dead, with
    its signal, and not retried as if it were an endpoint that may come back."""
    with stage_services(tmp_path, generator={"backend": "embedded"}) as services:
        client = llm_for(services)
        (server,) = children_running("llama_cpp.server")
        os.kill(server, signal.SIGSEGV)
        os.waitid(os.P_PID, server, os.WEXITED | os.WNOWAIT)  # dead; its Popen reaps it
        result = client.run(client.complete("def add(a, b):", max_tokens=4))
    assert isinstance(result, InfraFailure) and result.reason == "llm_infra_error"
    assert result.attempts == 1 and result.faults == {"connection": 1}
    assert result.detail.startswith("the embedded llama.cpp server died (killed by SIGSEGV)")


def children_running(command: str) -> list[int]:
    """This process's children whose command line holds `command`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            line = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and command in line:
            found.append(int(stat.parent.name))
    return found


def test_server_stops_on_ctrl_c_and_when_the_runner_is_killed(tmp_path: Path) -> None:
    import sys

    with pytest.raises(KeyboardInterrupt), ExitStack() as stack:
        server = start_embedded(Generator(), stack)
        raise KeyboardInterrupt
    assert server.process.poll() is not None

    script = (
        "import contextlib, sys, time\n"
        "from codeinstruct.workers.llm.embedded import start_embedded\n"
        "from codeinstruct.workers.spec import Generator\n"
        "server = start_embedded(Generator(), contextlib.ExitStack())\n"
        "print(server.process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert runner.stdout is not None
    pid = int(runner.stdout.readline())
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait()
    runner.stdout.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and alive(pid):
        time.sleep(0.2)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the llama.cpp server outlived its killed runner")


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its new parent to reap it counts as stopped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_a_server_started_by_a_thread_that_ends_keeps_serving() -> None:
    """Stages run in threads of their own (they overlap): the server must outlive the thread
    that happened to start it, and still stop with the run."""
    import threading
    import urllib.request

    with ExitStack() as stack:
        started: list[object] = []
        thread = threading.Thread(target=lambda: started.append(start_embedded(Generator(), stack)))
        thread.start()
        thread.join()
        (server,) = started
        assert isinstance(server, EmbeddedServer)
        time.sleep(1.0)  # a signal sent when the thread ended has arrived by then
        with urllib.request.urlopen(f"{server.base_url}/models", timeout=10) as response:
            assert response.status == 200
    assert server.process.poll() is not None  # stopped with the run
