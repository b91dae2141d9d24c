"""The warm pool under real isolation: HumanEval, hostile programs, dead and hung sandboxes."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeinstruct.workers.benchmarks import humaneval_problems
from codeinstruct.workers.sandbox import ExecResult, Job, checks
from codeinstruct.workers.sandbox.box import Box
from codeinstruct.workers.sandbox.supervisor import OUTPUT_CAP
from codeinstruct.workers.sandbox.verdict import result_of
from codeinstruct.workers.sandbox.warm_pool import Pool
from tests.helpers.paths import REPO
from tests.helpers.threads import Worker

pytestmark = pytest.mark.gvisor

PASSING = "assert sum(range(10)) == 45\nprint('ok')\n"


def humaneval_program(problem: dict[str, str], solution: str | None = None) -> str:
    body = problem["canonical_solution"] if solution is None else solution
    return f"{problem['prompt']}{body}\n{problem['test']}\ncheck({problem['entry_point']})\n"


@pytest.fixture(scope="module")
def pool() -> Iterator[Pool]:
    with Pool("gvisor", workers=2, timeout=10) as pool:
        yield pool


@pytest.fixture(scope="module", params=["gvisor", "bubblewrap"])
def single(request: pytest.FixtureRequest) -> Iterator[Pool]:
    """One sandbox, so that the job after a hostile one runs in the very same sandbox."""
    with Pool(request.param, workers=1, timeout=5) as pool:
        yield pool


def run_one(
    pool: Pool, program: str, timeout: float | None = None, memory_mib: int | None = None
) -> ExecResult:
    return pool.run([Job(uuid.uuid4().hex[:8], program, timeout, memory_mib)])[0]


def assert_next_passes(pool: Pool, box: Box | None) -> None:
    result = run_one(pool, PASSING)
    assert result.verdict == "pass", result
    assert pool.boxes[0] is box, "the sandbox was replaced: the hostile job was not contained"


@pytest.mark.slow
def test_humaneval_canonical_solutions_all_pass(pool: Pool) -> None:
    problems = humaneval_problems()
    jobs = [Job(p["task_id"], humaneval_program(p)) for p in problems]
    results = pool.run(jobs)
    assert [r.id for r in results] == [j.id for j in jobs]
    assert Counter(r.verdict for r in results) == {"pass": 164}


def test_broken_solution_fails_and_infinite_loop_times_out(pool: Pool) -> None:
    problem = humaneval_problems()[0]
    broken = Job("broken", humaneval_program(problem, "    return not " + "True\n"))
    loop = Job("loop", humaneval_program(problem, "    while True:\n        pass\n"), timeout=1.5)
    crash = Job("crash", "import json\njson.loads('{')\n")
    syntax = Job("syntax", "def f(:\n")
    results = {r.id: r for r in pool.run([broken, loop, crash, syntax])}
    assert results["broken"].verdict == "fail"
    assert "AssertionError" in results["broken"].stderr
    assert results["loop"].verdict == "timeout"
    # Stopped by its own timeout (the verdict says so), not by the pool's hung-sandbox margin.
    assert 1.5 <= results["loop"].duration < 1.5 * 4
    assert results["crash"].verdict == "error"
    assert results["syntax"].verdict == "error"


def test_large_programs_and_unsupported_languages(pool: Pool) -> None:
    big = "# " + "x" * 1_000_000 + "\nassert len('y' * 10) == 10\n"
    results = pool.run([Job("big", big), Job("kt", "fun main() {}", language="kotlin")])
    assert results[0].verdict == "pass"
    assert (results[1].verdict, results[1].reason) == ("error", "unsupported_language")
    assert "unknown language 'kotlin'; supported: python, javascript" in results[1].stderr


def test_test_case_lines_are_counted(pool: Pool) -> None:
    program = "for i, ok in enumerate([1, 1, 0, 1]):\n    print(f'Test case {i}: {bool(ok)}')\n"
    result = run_one(pool, program)
    assert (result.verdict, result.tests_passed, result.tests_failed) == ("pass", 3, 1)


def test_a_jobs_sandbox_time_counts_the_fork_of_its_process(single: Pool) -> None:
    # Each job runs in a process forked for it before it arrived (`Spare`): under gVisor that
    # fork costs more than the job itself, so a count from the job's start alone (`duration`)
    # leaves out most of what the sandbox spent on it.
    results = single.run([Job(f"j{k}", PASSING) for k in range(3)])
    for result in results:
        assert result.verdict == "pass"
        assert result.sandbox_seconds is not None and result.sandbox_seconds > result.duration


def test_a_checked_job_runs_the_code_the_host_compiled_or_else_its_own(single: Pool) -> None:
    # The host compiles a checked job's rewrite (`Precompiled`) and the job runs that code;
    # shipped code that is damaged, or not of this job, is ignored and the job compiles its
    # sources. Shown by shipping the code of another solution than the job's text.
    box = single.boxes[0]
    assert box is not None and box.hello["bytecode"] == checks.BYTECODE
    tests = "assert f() == 2\n"
    other = checks.Precompiled.build(["def f():\n    return 2\n"], tests, "t0ken")
    assert other is not None

    def run(**extra: object) -> str:
        job = {"id": "j", "program": "def f():\n    return 1\n", "tests": tests, "timeout": 5}
        return result_of(box.run({**job, **extra}, wait=30), "j").verdict

    assert run(precompiled={"token": "t0ken", "code": other.dumps()}) == "pass"
    assert run(precompiled={"token": "t0ken", "code": "garbage"}) == "fail"
    two = checks.Precompiled.build(["def f():\n    return 2\n"] * 2, tests, "t0ken")
    assert two is not None
    assert run(precompiled={"token": "t0ken", "code": two.dumps()}) == "fail"
    assert run() == "fail"


def test_a_programs_annotations_are_its_own_checked_or_not(pool: Pool) -> None:
    # The supervisor's and the checks' modules postpone annotations; a program run under them
    # must not (its annotations are objects, as under `python main.py`), unless it asks to.
    solution = "def f(x: int) -> int:\n    return x\n"
    own = "assert f.__annotations__['x'] is int, f.__annotations__\nassert f(1) == 1\n"
    postponed = "from __future__ import annotations\n\n" + solution
    asked = "assert f.__annotations__['x'] == 'int'\nassert f(1) == 1\n"
    results = pool.run(
        [
            Job("plain", solution + own),
            Job("checked", solution, tests=own),
            Job("plain-postponed", postponed + asked),
            Job("checked-postponed", postponed, tests=asked),
        ]
    )
    assert [(r.id, r.verdict) for r in results] == [
        ("plain", "pass"),
        ("checked", "pass"),
        ("plain-postponed", "pass"),
        ("checked-postponed", "pass"),
    ], [r.stderr[-300:] for r in results]


def test_no_network_to_host_loopback(single: Pool) -> None:
    box = single.boxes[0]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        program = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
        result = run_one(single, program)
        assert result.verdict == "error"
        assert "ConnectionRefusedError" in result.stderr or "OSError" in result.stderr
        with pytest.raises(BlockingIOError):
            listener.accept()
    assert_next_passes(single, box)


def test_host_files_are_not_readable(
    single: Pool, tmp_path_factory: pytest.TempPathFactory
) -> None:
    box = single.boxes[0]
    secrets = [
        Path("/root") / f".codeinstruct-secret-{uuid.uuid4().hex}",
        tmp_path_factory.mktemp("s") / "secret",
    ]
    for secret in secrets:
        secret.write_text("secret")
    try:
        files = [str(REPO / "pyproject.toml"), "/etc/shadow", *map(str, secrets)]
        assert all(os.path.exists(path) for path in files)
        program = (
            "import os\n"
            f"for path in {files!r}:\n"
            "    try:\n"
            "        print('LEAK', path, open(path).read(20))\n"
            "    except OSError as error:\n"
            "        print('denied', path, type(error).__name__)\n"
            f"for path in {[str(REPO.parent), '/root', '/home', '/work', '/opt', '/var', '/tmp']!r}:\n"
            "    try:\n"
            "        print('listing', path, sorted(os.listdir(path)))\n"
            "    except OSError as error:\n"
            "        print('denied', path, type(error).__name__)\n"
        )
        result = run_one(single, program)
    finally:
        for secret in secrets:
            secret.unlink()
    assert result.verdict == "pass", result
    assert "LEAK" not in result.stdout, result.stdout
    assert result.stdout.count("denied") >= len(files)
    # All that is visible of /root is the way to the interpreter; the scratch tmpfs is empty.
    for line in result.stdout.splitlines():
        if line.startswith("listing /root"):
            assert line.endswith("['.pyenv']") or line.endswith("[]"), line
        elif line.startswith("listing"):
            # (the scratch holds only this supervisor's folder, `box-<pid>`)
            assert re.search(r"(\[\]|\['box-\d+'\])$", line) or "job-" in line, line
    assert_next_passes(single, box)


def test_writes_outside_the_working_directory_do_not_reach_the_host(single: Pool) -> None:
    box = single.boxes[0]
    token = uuid.uuid4().hex
    targets = [f"/tmp/{token}", str(REPO / token), f"/etc/{token}", f"/usr/{token}", f"../{token}"]
    program = (
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError as error:\n"
        "        print('denied', path, type(error).__name__)\n"
    )
    result = run_one(single, program)
    assert result.verdict == "pass", result
    for path in targets:
        assert not os.path.exists(path.replace("..", "/tmp")), path
        assert not os.path.exists(path), path
    assert f"denied {REPO / token}" in result.stdout
    assert_next_passes(single, box)


def test_fork_bomb_is_contained(single: Pool) -> None:
    box = single.boxes[0]
    result = run_one(single, "import os\nwhile True:\n    os.fork()\n", timeout=5)
    assert result.verdict in {"error", "timeout"}
    assert_next_passes(single, box)


@pytest.mark.parametrize(
    "program",
    [
        "x = bytearray(8 << 30)\n",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(1 << 24))\n",
    ],
    ids=["one-huge-allocation", "growing"],
)
def test_memory_bomb_is_contained(single: Pool, program: str) -> None:
    box = single.boxes[0]
    result = run_one(single, program, timeout=30, memory_mib=512)
    assert result.verdict == "error"
    assert "MemoryError" in result.stderr
    assert_next_passes(single, box)


def test_memory_spread_over_many_processes_is_contained(single: Pool) -> None:
    box = single.boxes[0]
    program = (
        "import os, time\n"
        "for _ in range(8):\n"
        "    if os.fork() == 0:\n"
        "        hog = bytearray(400 << 20)\n"
        "        time.sleep(30)\n"
        "        os._exit(0)\n"
        "time.sleep(30)\n"
    )
    started = time.monotonic()
    result = run_one(single, program, timeout=30, memory_mib=1024)
    assert result.verdict == "error" and "MemoryError" in result.stderr
    assert time.monotonic() - started < 30, "stopped by memory, before its 30 s timeout"
    assert_next_passes(single, box)


def test_cpu_spin_times_out(single: Pool) -> None:
    box = single.boxes[0]
    started = time.monotonic()
    result = run_one(single, "while True:\n    pass\n", timeout=1)
    assert result.verdict == "timeout"
    assert time.monotonic() - started < 1 * 10
    assert_next_passes(single, box)


def test_output_flood_is_capped(single: Pool) -> None:
    box = single.boxes[0]
    result = run_one(single, "import sys\nfor _ in range(2000):\n    print('y' * 5000)\n")
    assert result.verdict == "pass"
    assert result.stdout_truncated and not result.stderr_truncated
    assert len(result.stdout.encode()) == OUTPUT_CAP
    endless = run_one(single, "while True:\n    print('z' * 1000)\n", timeout=1)
    # Stopped at the output limit, or by its CPU time first on a slow machine.
    assert (endless.verdict, endless.reason) in {
        ("error", "output_limit"),
        ("timeout", "cpu_limit"),
    }
    assert endless.stdout_truncated
    assert_next_passes(single, box)


def test_grandchildren_that_outlive_the_job_are_killed(single: Pool) -> None:
    box = single.boxes[0]
    program = (
        "import os, time\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(10_000)\n"
        "        os._exit(0)\n"
        "print('parent done')\n"
    )
    result = run_one(single, program)
    # The job ends with its parent (a wait for the grandchildren would be a timeout).
    assert result.verdict == "pass" and result.duration < 5
    survivors = run_one(
        single,
        "import os\n"
        "mine = {os.getpid(), os.getppid()}\n"
        "print([p for p in os.listdir('/proc') if p.isdigit() and int(p) not in mine "
        "and open(f'/proc/{p}/status').read().count('65534') > 0])\n",
    )
    assert survivors.verdict == "pass"
    assert survivors.stdout.strip() == "[]"
    assert_next_passes(single, box)


def test_a_job_cannot_kill_its_supervisor(single: Pool) -> None:
    box = single.boxes[0]
    result = run_one(single, "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")
    assert result.verdict == "error" and "PermissionError" in result.stderr
    assert_next_passes(single, box)


def test_one_gigabyte_file_is_refused(single: Pool) -> None:
    box = single.boxes[0]
    program = "block = b'x' * (1 << 20)\nwith open('big', 'wb') as f:\n    for _ in range(1024):\n        f.write(block)\n"
    result = run_one(single, program)
    assert result.verdict == "error"
    assert (
        "File too large" in result.stderr or "SIGXFSZ" in result.stderr or result.exit_code is None
    )
    assert_next_passes(single, box)


def test_filling_the_scratch_disk_stops_at_its_size(single: Pool) -> None:
    box = single.boxes[0]
    program = (
        "block = b'x' * (1 << 20)\n"
        "written = 0\n"
        "try:\n"
        "    for i in range(40):\n"
        "        with open(f'f{i}', 'wb') as f:\n"
        "            for _ in range(60):\n"
        "                f.write(block)\n"
        "                written += 1\n"
        "finally:\n"
        "    print(written)\n"
    )
    result = run_one(single, program, timeout=20)
    assert result.verdict == "error" and "No space left on device" in result.stderr
    assert int(result.stdout) <= 512
    assert_next_passes(single, box)


def kill_supervisor(pool: Pool, slot: int = 0) -> None:
    """SIGKILL the supervisor (the sandbox's init) from the host."""
    box = pool.boxes[slot]
    assert box is not None, f"no sandbox in slot {slot} to kill"
    subprocess.run(pool.launcher.runsc("kill", box.name, "KILL"), check=True, timeout=30)


def wait_busy(pool: Pool, slot: int, previous: Box | None = None) -> Box:
    """Wait until a sandbox other than `previous` has been sent a job in `slot`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        box = pool.boxes[slot]
        if box is not None and box is not previous and box.jobs >= 1:
            return box
        time.sleep(0.02)
    raise AssertionError("the job never started")


# A job that never ends by itself: a kill is the only way out of it, whenever the kill lands.
FOREVER = "import time\ntime.sleep(60)\n"


def test_killed_supervisor_means_replaced_sandbox_and_infra_error() -> None:
    with Pool("gvisor", workers=1, timeout=90, hung_margin=5) as pool:
        first = pool.boxes[0]
        assert first is not None
        # Killed before the job is sent: the job finds a dead sandbox, and is retried on a new
        # one, where it passes.
        kill_supervisor(pool)
        retried = run_one(pool, PASSING, timeout=30)
        assert retried.verdict == "pass"
        assert pool.replaced == 1 and pool.boxes[0] is not first

        # Killed in the middle of the job, on both attempts: infra_error, never fail.
        def kill_twice() -> None:
            killed = None
            for _ in range(2):
                killed = wait_busy(pool, 0, killed)
                kill_supervisor(pool)

        worker = Worker(kill_twice)
        worker.start()
        doomed = run_one(pool, FOREVER)
        worker.join()
        assert doomed.verdict == "infra_error"
        assert pool.replaced == 3
        assert run_one(pool, PASSING, timeout=30).verdict == "pass"


@pytest.mark.slow
def test_killing_sandboxes_mid_batch_loses_no_job() -> None:
    def job(i: int) -> Job:
        return Job(f"j{i}", f"import time\ntime.sleep(0.05)\nassert {i} == {i}\n")

    with Pool("gvisor", workers=2, timeout=30) as pool:
        first = [pool.submit(job(i)) for i in range(30)]

        def killer() -> None:
            # Each kill waits for results, not for time: the first after 10, the second after 20.
            for slot, after in ((0, 10), (1, 20)):
                deadline = time.monotonic() + 120
                while sum(f.done() for f in first) < after:
                    assert time.monotonic() < deadline, "the batch stopped making progress"
                    time.sleep(0.01)
                kill_supervisor(pool, slot)

        worker = Worker(killer)
        worker.start()
        worker.join(timeout=300)
        # A sandbox killed mid-job fails that job over to a new one; one killed while idle is
        # found dead by its next job: either way both are replaced by the end of the second half.
        second = [pool.submit(job(i)) for i in range(30, 60)]
        results = [f.result(timeout=300) for f in first + second]
        assert [r.id for r in results] == [f"j{i}" for i in range(60)]
        assert Counter(r.verdict for r in results) == {"pass": 60}
        assert pool.replaced >= 2


@pytest.mark.slow
def test_hung_sandbox_is_detected_and_replaced() -> None:
    with Pool("gvisor", workers=1, timeout=1, hung_margin=2) as pool:
        box = pool.boxes[0]
        assert box is not None
        # Frozen before the job is sent: no answer within timeout + margin means hung.
        subprocess.run(pool.launcher.runsc("pause", box.name), check=True, timeout=30)
        started = time.monotonic()
        result = run_one(pool, "import time\ntime.sleep(0.2)\n")
        assert result.verdict == "pass"  # retried on a fresh sandbox
        assert pool.replaced == 1 and pool.boxes[0] is not box
        assert time.monotonic() - started >= 1 + 2, "declared hung only after timeout + margin"
