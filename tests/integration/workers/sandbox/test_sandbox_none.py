"""Isolation `none` (the mode of a sandbox pod, already inside gVisor): the supervisor's own
confinement still holds, and the choice is announced loudly."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.sandbox import Job, bundle
from codeinstruct.workers.sandbox.box import Launcher, real_interpreter, supervisor_source
from codeinstruct.workers.sandbox.gvisor import detect
from codeinstruct.workers.sandbox.service import check_sharing
from codeinstruct.workers.sandbox.warm_pool import Pool
from codeinstruct.workers.spec import Isolation
from tests.conftest import CLI, REPO, free_port


def test_none_still_confines_each_job_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), Pool("none", workers=1, timeout=2) as pool:
        results = pool.run(
            [
                Job("ok", "assert 2 + 2 == 4"),
                Job("spin", "while True:\n    pass\n", timeout=1),
                Job("memory", "x = bytearray(4 << 30)\n", memory_mib=256),
                Job("after", "print('still here')"),
            ]
        )
    assert [r.verdict for r in results] == ["pass", "timeout", "error", "pass"]
    assert "MemoryError" in results[2].stderr
    assert "ISOLATION IS `none`" in caplog.text
    # (No fork bomb here: on a host where `nobody` cannot read the interpreter, jobs keep the
    # caller's user id, and root is exempt from RLIMIT_NPROC; the warning says so.)


def test_serve_with_isolation_none_refuses_to_start_outside_gvisor() -> None:
    done = subprocess.run(
        [*CLI, "sandbox", "serve", "--isolation", "none", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "gVisor is not detected" in done.stderr and "--no-gvisor-check" in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_with_isolation_none_starts_with_the_override() -> None:
    port = free_port()
    server = subprocess.Popen(
        [*CLI, "sandbox", "serve", "--isolation", "none", "--no-gvisor-check", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server did not become ready")
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.gvisor
def test_gvisor_is_detected_from_inside_gvisor_and_not_on_the_host() -> None:
    assert detect() == []
    probe = (
        f"import sys; sys.path.insert(0, {str(REPO / 'workers')!r}); "
        "from codeinstruct.workers.sandbox.gvisor import detect; print(','.join(detect()))"
    )
    done = subprocess.run(
        ["runsc", "--network=none", "do", real_interpreter(), "-I", "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "/proc/version" in done.stdout


NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
SYSTEM_PYTHON = "/usr/bin/python3.11"


@pytest.fixture
def checkout_reachable_by_others() -> Iterator[None]:
    """Other users reach the checkout and its virtual environment while the test runs, as in a
    sandbox image; a checkout under a `mktemp -d` folder (mode 0700) is not reachable."""
    changed = []
    for folder in [REPO, *REPO.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(folder, mode | stat.S_IXOTH)
            changed.append((folder, mode))
    yield
    for folder, mode in changed:
        os.chmod(folder, mode)


def supervisor_as_nobody(scratch: str) -> tuple[subprocess.Popen[bytes], int]:
    """A supervisor started the way a sandbox pod starts it: not root, so jobs keep its UID."""
    process = subprocess.Popen(
        [*NOBODY, SYSTEM_PYTHON, "-I", "-S", "-c", supervisor_source()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**bundle.ENV, "CODEINSTRUCT_SCRATCH": scratch},
    )
    assert process.stdout is not None
    hello = json.loads(process.stdout.readline())
    assert hello["ready"] and not hello["drop_user"]
    assert hello["private_scratch"], "on a Linux kernel a non-root job gets a scratch of its own"
    return process, int(hello["pid"])


def send(process: subprocess.Popen[bytes], job: dict[str, object]) -> None:
    assert process.stdin is not None
    process.stdin.write(json.dumps(job).encode() + b"\n")
    process.stdin.flush()


def answer(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert process.stdout is not None
    return dict(json.loads(process.stdout.readline()))


PROBE = """
import json, os
seen = {"signals": {}, "secrets": []}
for name, pid in TARGETS.items():
    try:
        os.kill(pid, 0)
        seen["signals"][name] = "delivered"
    except OSError as error:
        seen["signals"][name] = error.errno
for root, _dirs, files in os.walk(SCRATCH):
    for name in files:
        if name == "secret.txt":
            seen["secrets"].append(open(os.path.join(root, name)).read())
for pid in os.listdir("/proc"):
    try:
        seen["secrets"].append(open(f"/proc/{pid}/cwd/secret.txt").read())
    except OSError:
        pass
print(json.dumps(seen))
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root to start processes as another user, setpriv and the system python",
)
def test_jobs_of_a_non_root_server_cannot_signal_it_or_read_another_jobs_files() -> None:
    scratch = tempfile.mkdtemp(prefix="codeinstruct-scratch-", dir="/tmp")
    os.chmod(scratch, 0o1777)
    server = subprocess.Popen([*NOBODY, "sleep", "60"])  # the `sandbox serve` process's UID
    first, first_pid = supervisor_as_nobody(scratch)
    second, second_pid = supervisor_as_nobody(scratch)
    try:
        writer = "open('secret.txt', 'w').write('s3cret')\nimport time\ntime.sleep(4)\n"
        send(first, {"id": "writer", "program": writer, "timeout": 10})
        time.sleep(1.5)  # the writer's file exists while the probe runs
        targets = {"server": server.pid, "own supervisor": second_pid, "other": first_pid}
        probe = f"TARGETS = {targets!r}\nSCRATCH = {scratch!r}\n{PROBE}"
        send(second, {"id": "probe", "program": probe, "timeout": 10})
        result = answer(second)
        assert result["exit_code"] == 0, result["stderr"]
        seen = json.loads(result["stdout"])
        assert answer(first)["exit_code"] == 0
        assert seen["secrets"] == [], "another job's file was readable"
        assert all(v != "delivered" for v in seen["signals"].values()), seen["signals"]
    finally:
        for process in (first, second):
            if process.stdin:
                process.stdin.close()
            process.wait(timeout=30)
            for stream in (process.stdout, process.stderr):
                if stream:
                    stream.close()
        server.kill()
        server.wait()
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.gvisor
def test_under_gvisor_a_non_root_supervisors_jobs_cannot_signal_it() -> None:
    """The sandbox pod's case: gVisor underneath, the server not root (no per-job user). The
    job's PID namespace holds only itself: no other process can be addressed."""
    launcher = Launcher(Isolation.GVISOR)
    config_path = launcher.state / "bundle" / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["user"] = {"uid": 65532, "gid": 65532}
    config["process"]["capabilities"] = {k: [] for k in ("bounding", "effective", "permitted")}
    config_path.write_text(json.dumps(config))
    box = launcher.start()
    try:
        assert box.hello["private_jobs"] and not box.hello["drop_user"]
        probe = (
            "import os\nreached = []\nfor pid in range(1, 200):\n    try:\n"
            "        os.kill(pid, 0)\n        reached.append(pid)\n    except OSError:\n"
            "        pass\nprint(reached, os.getpid())\n"
        )
        result = box.run({"id": "probe", "program": probe, "timeout": 5}, 30)
        assert result["exit_code"] == 0, result["stderr"]
        assert result["stdout"].strip() == "[1] 1", "only the job itself is reachable"
    finally:
        box.close()
        launcher.close()


LEAVE = """
import os
secret = "s3cret-" + JOB
spots = [os.path.join(os.getcwd(), ".hidden"), os.path.join(os.path.dirname(os.getcwd()), "left"),
         "/tmp/.cache-" + JOB, "/dev/shm/left", os.path.expanduser("~/.profile-left")]
os.makedirs("/tmp/deep/er", exist_ok=True)
spots.append("/tmp/deep/er/.x")
written = []
for spot in spots:
    try:
        with open(spot, "w") as handle:
            handle.write(secret)
        written.append(spot)
    except OSError:
        pass
print(written, flush=True)
"""

FIND = """
import os
found = []
for top in ("/tmp", "/dev/shm", os.path.dirname(os.getcwd()), os.path.expanduser("~")):
    for root, _dirs, files in os.walk(top):
        for name in files:
            try:
                with open(os.path.join(root, name)) as handle:
                    text = handle.read(100)
            except (OSError, UnicodeDecodeError):
                continue
            if text.startswith("s3cret-"):
                found.append((os.path.join(root, name), text))
for pid in os.listdir("/proc"):
    try:
        found.append(open(f"/proc/{pid}/cwd/.hidden").read())
    except OSError:
        pass
print(sorted(set(map(str, found))))
"""


def non_root_gvisor_box() -> tuple[Launcher, Any]:
    """A supervisor under real `runsc` as the sandbox pod runs it: UID 65532, no capabilities,
    so jobs keep its UID and gVisor refuses them the id maps of a user namespace."""
    launcher = Launcher(Isolation.GVISOR)
    config_path = launcher.state / "bundle" / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["user"] = {"uid": 65532, "gid": 65532}
    config["process"]["capabilities"] = {k: [] for k in ("bounding", "effective", "permitted")}
    config_path.write_text(json.dumps(config))
    return launcher, launcher.start()


@pytest.mark.gvisor
def test_under_gvisor_a_non_root_supervisors_next_job_reads_nothing_the_last_one_left() -> None:
    """Job A leaves a secret wherever it can write (its cwd, a hidden file, the scratch
    directory, /tmp deep down, /dev/shm, $HOME); job B, the next one in the same sandbox, finds
    none of it."""
    launcher, box = non_root_gvisor_box()
    try:
        assert not box.hello["drop_user"]
        # Concurrent jobs would share the files: `sandbox serve` refuses more than one worker.
        assert box.hello["private_scratch"] is False
        with pytest.raises(UserError, match="--workers 1 and more replicas"):
            check_sharing(Isolation.NONE, 2, box.hello)
        check_sharing(Isolation.NONE, 1, box.hello)
        left = box.run({"id": "a", "program": f"JOB = 'a'\n{LEAVE}", "timeout": 5}, 30)
        assert left["exit_code"] == 0, left["stderr"]
        assert "/tmp/.cache-a" in left["stdout"], "job A could write nothing: the probe is moot"
        probe = box.run({"id": "b", "program": FIND, "timeout": 5}, 30)
        assert probe["exit_code"] == 0, probe["stderr"]
        assert probe["stdout"].strip() == "[]", f"job B read what job A left: {probe['stdout']}"
    finally:
        box.close()
        launcher.close()


STUCK = """
import importlib.util, os, sys, types
for name in ("codeinstruct_sandbox_checks", "codeinstruct_sandbox_languages"):
    sys.modules[name] = types.ModuleType(name)  # the wipe needs neither
spec = importlib.util.spec_from_file_location("supervisor", sys.argv[1])
supervisor = importlib.util.module_from_spec(spec)
spec.loader.exec_module(supervisor)
top = sys.argv[2]
os.makedirs(top + "/locked/in/deeper")  # a job's own tree, made unreadable
open(top + "/locked/in/deeper/x", "w").write("s")
os.symlink("/etc", top + "/locked/in/etc")
os.chmod(top + "/locked/in/deeper", 0)
os.chmod(top + "/locked/in", 0)
os.chmod(top + "/locked", 0)
try:
    supervisor.wipe([top], [])
except supervisor.DirtyScratch as error:
    print("dirty:", error)
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root to start processes as another user, setpriv and the system python",
)
def test_a_non_root_supervisor_that_cannot_wipe_runs_no_next_job(
    checkout_reachable_by_others: None,
) -> None:
    """What a non-root supervisor cannot remove (here a root-owned folder in its scratch that
    it may not write) is reported as DirtyScratch, never skipped in silence."""
    top = tempfile.mkdtemp(prefix="codeinstruct-wipe-", dir="/tmp")
    try:
        os.chmod(top, 0o1777)
        os.makedirs(f"{top}/stuck")
        with open(f"{top}/stuck/x", "w") as handle:
            handle.write("s")
        with open(f"{top}/mine", "w") as handle:
            handle.write("s")
        os.chown(f"{top}/mine", 65534, 65534)
        source = str(REPO / "workers/codeinstruct/workers/sandbox/supervisor.py")
        done = subprocess.run(
            [*NOBODY, SYSTEM_PYTHON, "-I", "-S", "-c", STUCK, source, top],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "dirty: cannot remove what a job left" in done.stdout, done.stderr
        assert f"{top}/stuck" in done.stdout
        assert not os.path.exists(f"{top}/mine")  # what it could remove, it did
        assert not os.path.lexists(f"{top}/locked"), "a tree it owns, made unreadable, stayed"
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_none_wipes_the_directories_the_pod_names_between_jobs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The pod's wiring: `CODEINSTRUCT_SANDBOX_WIPE` (the pod's /tmp and /dev/shm, here two
    stand-in folders) is emptied after each job; the Python environment stays."""
    pod_tmp, pod_shm = tmp_path / "tmp", tmp_path / "shm"
    pod_tmp.mkdir(mode=0o777)
    pod_shm.mkdir(mode=0o777)
    monkeypatch.setenv(bundle.POD_WIPE, f"{pod_tmp}:{pod_shm}")
    leave = (
        f"import os\nfor d in ({str(pod_tmp)!r}, {str(pod_shm)!r}):\n"
        "    os.makedirs(d + '/.deep/er', exist_ok=True)\n"
        "    open(d + '/.deep/er/secret', 'w').write('s3cret')\n"
        "    open(d + '/left', 'w').write('s3cret')\n"
    )
    find = (
        f"import os\nprint(sorted(os.path.join(r, n) for d in ({str(pod_tmp)!r}, "
        f"{str(pod_shm)!r}) for r, ds, fs in os.walk(d) for n in fs + ds))\n"
    )
    with Pool("none", workers=1, timeout=5) as pool:
        left, found = pool.run([Job("a", leave), Job("b", find)])
    assert left.verdict == "pass", left.stderr
    assert found.verdict == "pass", found.stderr
    assert found.stdout.strip() == "[]", f"job b saw what job a left: {found.stdout}"
    assert sorted(os.listdir(pod_tmp)) == sorted(os.listdir(pod_shm)) == []


POD = r'''
import json, os, sys
from codeinstruct.workers.sandbox import Job
from codeinstruct.workers.sandbox.warm_pool import Pool
POD_TMP = sys.argv[1]
FORGE = """
import json, os, time
for pid in os.listdir("/proc"):
    for fd in os.listdir(f"/proc/{pid}/fd") if pid.isdigit() else []:
        try:
            handle = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY | os.O_NONBLOCK)
            os.write(handle, json.dumps({"id": "forger", "exit_code": 0}).encode() + b"\\n")
            os.close(handle)
        except OSError:
            pass
written = []
for spot in (".hidden", "../left", "../../up", POD_TMP + "/.cache-x", POD_TMP + "/d/e/f",
             "/dev/shm/left"):
    try:
        os.makedirs(os.path.dirname(os.path.abspath(spot)), exist_ok=True)
        open(spot, "w").write("s3cret")
        written.append(os.path.abspath(spot))
    except OSError:
        pass
print(written, flush=True)
if os.fork() == 0:  # a survivor that would write again after the wipe
    os.setsid()
    if os.fork() == 0:
        import time
        for _ in range(400):
            try:
                open(POD_TMP + "/late", "w").write("s3cret")
            except OSError:
                pass
            time.sleep(0.05)
    os._exit(0)
time.sleep(0.3)
os._exit(3)
"""
FIND = """
import os, time
time.sleep(1)  # a survivor of job A would have written by now
print(sorted(os.path.join(r, n) for top in (POD_TMP, "/dev/shm") for r, _d, fs in os.walk(top)
             for n in fs if open(os.path.join(r, n), errors="replace").read(6) == "s3cret"))
"""
with Pool("none", workers=1, timeout=5) as pool:
    hello = pool.boxes[0].hello
    forger, finder = pool.run([Job("forger", f"POD_TMP = {POD_TMP!r}\n{FORGE}"),
                               Job("finder", f"POD_TMP = {POD_TMP!r}\n{FIND}")])
print(json.dumps({"uid": os.geteuid(), "private_scratch": hello["private_scratch"],
                  "forger": [forger.verdict, forger.exit_code], "found": finder.stdout.strip(),
                  "written": forger.stdout.splitlines()[-1]}))
'''


@pytest.mark.gvisor
@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists(SYSTEM_PYTHON),
    reason="needs root to start processes as another user, setpriv and the system python",
)
def test_in_a_gvisor_pod_as_uid_65532_a_job_forges_nothing_and_leaves_nothing(
    checkout_reachable_by_others: None,
) -> None:
    """The sandbox pod itself, under real `runsc`: the pool and its supervisor run as UID
    65532 with no capabilities (as `sandbox serve --isolation none` in the pod), the pod's
    writable /tmp named in CODEINSTRUCT_SANDBOX_WIPE. Job A writes a result line of its own
    into every descriptor it can open through /proc and leaves files in its cwd, above it and
    in the pod's /tmp; its verdict is what it did (exit 3), and job B finds nothing."""
    work = tempfile.mkdtemp(prefix="codeinstruct-pod-", dir="/tmp")
    try:
        os.chmod(work, 0o755)
        pod_tmp = os.path.join(work, "tmp")
        os.mkdir(pod_tmp)
        os.chmod(pod_tmp, 0o1777)
        script = os.path.join(work, "pod.py")
        with open(script, "w") as handle:
            handle.write(POD)
        os.chmod(script, 0o644)
        site = sysconfig.get_paths()["purelib"]
        env = {
            "HOME": pod_tmp,
            "TMPDIR": pod_tmp,
            "PYTHONPATH": f"{REPO / 'workers'}:{site}",
            bundle.POD_WIPE: f"{pod_tmp}:/dev/shm",  # gVisor's own /dev/shm, as in the pod
        }
        done = subprocess.run(
            [
                "runsc",
                "--network=none",
                "do",
                "-quiet",
                *NOBODY[:1],
                "--reuid=65532",
                "--regid=65532",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "env",
                *[f"{k}={v}" for k, v in env.items()],
                SYSTEM_PYTHON,
                script,
                pod_tmp,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=work,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        assert seen["uid"] == 65532
        assert seen["private_scratch"] is False  # gVisor: no user namespace for 65532
        assert seen["forger"] == ["error", 3], "the job's own result line was taken as its verdict"
        # (/dev/shm is not writable for UID 65532 there; in a pod it is, and wiped the same way)
        assert "/.cache-x" in seen["written"] and "/scratch/up" in seen["written"]
        assert seen["found"] == "[]", f"job B read what job A left: {seen['found']}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_fault_of_ours_in_a_pool_thread_reaches_the_caller_and_the_pool_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Before: the worker thread died with the exception, its job's future never resolved and
    # `run` waited forever.
    from codeinstruct.workers.sandbox import warm_pool

    real = warm_pool.result_of

    def result_of(raw: dict[str, Any], job_id: str) -> Any:
        if job_id == "bad":
            raise KeyError("a field the pool did not expect")
        return real(raw, job_id)

    monkeypatch.setattr(warm_pool, "result_of", result_of)
    with Pool("none", workers=1, timeout=5) as pool:
        bad = pool.submit(Job("bad", "pass"))
        with pytest.raises(KeyError, match="did not expect"):
            bad.result(timeout=60)
        [after] = pool.run([Job("after", "print('still served')")])
    assert after.verdict == "pass" and "still served" in after.stdout
