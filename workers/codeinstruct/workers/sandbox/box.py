"""One warm sandbox: a supervisor process behind gVisor, bubblewrap or nothing, spoken to over
pipes (JSON lines), and the launcher that prepares what all sandboxes of a pool share."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.reaper import REAPER, Command, Directory, Group
from codeinstruct.workers.sandbox import bundle
from codeinstruct.workers.sandbox.python_env import PythonEnv, host_python
from codeinstruct.workers.spec import Isolation

log = logging.getLogger(__name__)

READY_SECONDS = 60.0
WEAKER = "or set `sandbox.isolation: bubblewrap` (namespaces only) or `none` (no isolation) in the spec / `--isolation` on the command line to opt into weaker isolation"


class SandboxUnavailable(UserError):
    """The requested isolation cannot be provided on this machine (never a silent fallback)."""


class SandboxCrashed(Exception):
    """A sandbox died, hung or spoke nonsense: an infrastructure failure, not the code's."""


CHECKS_MODULE = "codeinstruct_sandbox_checks"
LANGUAGES_MODULE = "codeinstruct_sandbox_languages"
# How often the host measures a running job's CPU time.
CPU_POLL_SECONDS = 0.1
TICKS = os.sysconf("SC_CLK_TCK")


def supervisor_source(site_dirs: tuple[str, ...] = ()) -> str:
    """The supervisor's source, preceded by the registration of `checks.py` and `languages.py`
    as modules (inside a sandbox nothing of codeinstruct is importable) and by the Python
    environment's site-packages (`python_env.py`)."""
    here = Path(__file__).parent
    bootstrap = "import sys, types\n"
    for module, file in ((CHECKS_MODULE, "checks.py"), (LANGUAGES_MODULE, "languages.py")):
        text = (here / file).read_text(encoding="utf-8")
        bootstrap += (
            f"_module = types.ModuleType({module!r})\n"
            f"sys.modules[{module!r}] = _module\n"
            f"exec(compile({text!r}, {file!r}, 'exec'), _module.__dict__)\n"
        )
    bootstrap += "del _module\n"
    bootstrap += "".join(f"import site; site.addsitedir({d!r})\n" for d in site_dirs)
    supervisor = (here / "supervisor.py").read_text(encoding="utf-8")
    future = "from __future__ import annotations\n"
    return supervisor.replace(future, future + bootstrap, 1)


def real_interpreter() -> str:
    """The interpreter binary itself (a venv link or a pyenv shim costs seconds per start)."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


def world_readable(path: str) -> bool:
    """Whether a user with no rights (`nobody`) can read `path` (all parents traversable)."""
    current = Path(path)
    for part in [current, *current.parents]:
        try:
            mode = part.stat().st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return True


class Launcher:
    """Prepares the shared bundle of one isolation level and starts sandboxes from it."""

    def __init__(self, isolation: Isolation, python: PythonEnv | None = None) -> None:
        self.isolation = Isolation(isolation)
        python = python or host_python()
        self.layout = bundle.host_layout(python.interpreter, python.home, python.mounts)
        self.source = supervisor_source(python.site_dirs)
        self.env = {**bundle.ENV, "CODEINSTRUCT_DROP_USER": "1"}
        self.state = Path(tempfile.mkdtemp(prefix="codeinstruct-sandbox-"))
        self.reaped = REAPER.watch([Directory(str(self.state))])  # removed even after kill -9
        try:
            self._prepare()
        except BaseException:
            shutil.rmtree(self.state, ignore_errors=True)
            raise

    def _prepare(self) -> None:
        if self.isolation is Isolation.GVISOR:
            if shutil.which("runsc") is None:
                raise SandboxUnavailable(
                    "sandbox.isolation is `gvisor` but `runsc` is not installed: install gVisor "
                    f"(Debian/Ubuntu: `apt-get install runsc`, or run scripts/install.sh), {WEAKER}"
                )
            rootfs = bundle.make_rootfs(self.state / "rootfs", self.layout)
            config = bundle.oci_config(self.layout, str(rootfs), self.source)
            (self.state / "bundle").mkdir()
            (self.state / "bundle" / "config.json").write_text(json.dumps(config, indent=1))
            (self.state / "runsc").mkdir()
        elif self.isolation is Isolation.BUBBLEWRAP:
            if shutil.which("bwrap") is None:
                raise SandboxUnavailable(
                    "sandbox.isolation is `bubblewrap` but `bwrap` is not installed: "
                    "`apt-get install bubblewrap`, or choose `gvisor` or `none`"
                )
        else:
            self.env["CODEINSTRUCT_OWN_PIDS"] = "0"  # the host's nobody processes are visible
            self.env.update(bundle.none_env(self.layout, dict(os.environ)))
            if not all(map(world_readable, bundle.extra_mounts(self.layout))):
                # `nobody` could not import the standard library: keep the user, say so.
                self.env["CODEINSTRUCT_DROP_USER"] = "0"
            log.warning(
                "SANDBOX ISOLATION IS `none`: generated code runs on this machine with only "
                "rlimits%s. Use this only inside a gVisor pod or on a throwaway machine.",
                ""
                if self.env["CODEINSTRUCT_DROP_USER"] == "1"
                else " and YOUR USER ID (user `nobody` cannot read the interpreter "
                f"under {self.layout.prefix}; as root, process limits do not apply)",
            )
        self.env["CODEINSTRUCT_SCRATCH"] = bundle.SCRATCH

    def runsc(self, *args: str) -> list[str]:
        # The bind mounts (`/usr`, `/etc`, the Python environment) are read-only and nothing on
        # the host changes them while a pool lives: gVisor may cache them, as it does the root
        # (1.05-1.64x the programs per second of javascript, c and bash in 5 of 6 paired rounds).
        return [
            "runsc",
            "--root",
            str(self.state / "runsc"),
            "--network=none",
            "--file-access-mounts=exclusive",
            *args,
        ]

    def argv(self, name: str) -> list[str]:
        if self.isolation is Isolation.GVISOR:
            return self.runsc("run", "--bundle", str(self.state / "bundle"), name)
        if self.isolation is Isolation.BUBBLEWRAP:
            return bundle.bwrap_argv(self.layout, self.source)
        scratch = self.state / "scratch"
        scratch.mkdir(exist_ok=True)
        scratch.chmod(0o1777)
        self.env["CODEINSTRUCT_SCRATCH"] = str(scratch)
        return bundle.command(self.layout, self.source)

    def start(self) -> Box:
        """A new sandbox, ready for jobs; raises SandboxCrashed if it does not come up."""
        name = f"codeinstruct-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        pairs = []
        streams: dict[str, int] = dict.fromkeys(("stdin", "stdout", "stderr"), subprocess.PIPE)
        if self.isolation is Isolation.NONE:
            # Jobs may share the supervisor's UID (a sandbox pod): under gVisor they can open its
            # pipes through /proc/<pid>/fd and write a result line of their own. A socket
            # cannot be opened that way (ENXIO).
            pairs = [socket.socketpair() for _ in streams]
            streams = {key: pair[1].fileno() for key, pair in zip(streams, pairs, strict=True)}
        try:
            process = subprocess.Popen(
                self.argv(name),
                **streams,  # type: ignore[call-overload]
                env=self.env if self.isolation is Isolation.NONE else None,
                cwd=self.state,
                start_new_session=True,
            )
        finally:
            for _ours, theirs in pairs:
                theirs.close()
        if pairs:
            process.stdin = os.fdopen(pairs[0][0].detach(), "wb")
            process.stdout = os.fdopen(pairs[1][0].detach(), "rb")
            process.stderr = os.fdopen(pairs[2][0].detach(), "rb")
        box = Box(self, name, process)
        box.reaped = REAPER.watch(self.cleanup(name, process.pid))
        try:
            box.hello = box.read(time.monotonic() + READY_SECONDS)
            if not box.hello.get("ready"):
                raise SandboxCrashed(f"unexpected greeting {box.hello!r}")
        except SandboxCrashed:
            box.kill()
            raise
        return box

    def cleanup(self, name: str, pid: int) -> list[Command | Group]:
        """What stops sandbox `name` from outside: the reaper does it if the runner dies."""
        stop: list[Command | Group] = []
        if self.isolation is Isolation.GVISOR:
            stop = [Command(self.runsc("kill", "--all", name, "KILL"))]
            stop.append(Command(self.runsc("delete", "--force", name)))
        return [*stop, Group(pid)]

    def close(self) -> None:
        shutil.rmtree(self.state, ignore_errors=True)
        REAPER.forget(self.reaped)


class Box:
    """One running sandbox; `run` sends a job and waits for its result line."""

    def __init__(self, launcher: Launcher, name: str, process: subprocess.Popen[bytes]) -> None:
        self.launcher = launcher
        self.name = name
        self.process = process
        self.hello: dict[str, Any] = {}
        self.reaped: int | None = None
        self.jobs = 0
        self._buffer = b""
        self._stderr: deque[bytes] = deque(maxlen=50)
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        assert process.stdout is not None
        os.set_blocking(process.stdout.fileno(), False)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._stderr.append(line)

    def stderr_tail(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")[-2000:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def read(self, deadline: float) -> dict[str, Any]:
        """The next JSON line from the supervisor, or SandboxCrashed (dead, hung, garbled)."""
        answer = self.poll(deadline, hung=True)
        assert answer is not None
        return answer

    def poll(self, deadline: float, hung: bool = False) -> dict[str, Any] | None:
        """The next JSON line, or None when none came by the deadline (SandboxCrashed if it
        is `hung` then)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 and not hung:
                    return None
                if left <= 0:
                    raise SandboxCrashed(f"sandbox {self.name} did not answer in time (hung)")
                if not selector.select(left):
                    continue
                try:
                    chunk = os.read(fd, 1 << 20)
                except BlockingIOError:
                    continue
                if not chunk:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=5)
                    self._drain.join(timeout=2)  # its last words, for the message
                    raise SandboxCrashed(
                        f"sandbox {self.name} exited (status {self.process.poll()}): "
                        f"{self.stderr_tail().strip()[-500:]}"
                    )
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            answer = json.loads(line)
        except ValueError:
            raise SandboxCrashed(f"sandbox {self.name} wrote garbage: {line[:200]!r}") from None
        if not isinstance(answer, dict):
            raise SandboxCrashed(f"sandbox {self.name} wrote {line[:200]!r}")
        return answer

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(message).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as error:
            raise SandboxCrashed(f"sandbox {self.name} is gone ({error})") from None

    def run(
        self,
        job: dict[str, Any],
        wait: float,
        cpu_limit: float | None = None,
        compile_limit: float | None = None,
    ) -> dict[str, Any]:
        """Send one job; its result within `wait` seconds, or SandboxCrashed.

        The job's CPU time is measured here, on the host, over all of the sandbox's processes
        (inside gVisor a task's CPU clock advances while the host has it preempted: a loaded
        machine would look like a slow program). When it passes `cpu_limit` (`compile_limit`
        while the program compiles) the supervisor is told to stop the job. The answer carries
        `host_cpu_seconds` of the run (after compilation) and `cpu_limit`."""
        self.jobs += 1
        self._send(job)
        deadline = time.monotonic() + wait
        base = self.cpu_seconds()
        compiling = compile_limit is not None
        limit = compile_limit if compiling else cpu_limit
        cancelled = False
        while True:
            poll_until = min(deadline, time.monotonic() + CPU_POLL_SECONDS)
            answer = self.poll(poll_until, hung=poll_until >= deadline)
            if answer is None:
                used = self.cpu_seconds() - base
                if limit is not None and used > limit and not cancelled:
                    self._send({"cancel": job.get("id")})
                    cancelled = True
                continue
            if answer.get("phase") == "run" and answer.get("id") == job.get("id"):
                base, compiling, limit, cancelled = self.cpu_seconds(), False, cpu_limit, False
                continue
            break
        if answer.get("id") != job.get("id"):
            raise SandboxCrashed(f"sandbox {self.name} answered job {answer.get('id')!r}")
        answer["host_cpu_seconds"] = round(self.cpu_seconds() - base, 4)
        answer["cpu_limit"] = cpu_limit
        answer["compile_timed_out"] = compiling and bool(answer.get("timed_out"))
        return answer

    def cpu_seconds(self) -> float:
        """CPU time the sandbox's host processes used so far (with their reaped children)."""
        total = 0
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_bytes()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            total += sum(int(value) for value in fields[11:15])
        return total / TICKS

    def pids(self) -> list[int]:
        """Host processes of this sandbox (the launcher process and its descendants)."""
        found = [self.process.pid]
        parents = parent_pids()
        frontier = [self.process.pid]
        while frontier:
            parent = frontier.pop()
            kids = [pid for pid, ppid in parents.items() if ppid == parent]
            found += kids
            frontier += kids
        return found

    def rss_bytes(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        return total

    def kill(self) -> None:
        """Stop it now (a dead or hung sandbox)."""
        if self.launcher.isolation is Isolation.GVISOR:
            for args in (("kill", "--all", self.name, "KILL"), ("delete", "--force", self.name)):
                subprocess.run(
                    self.launcher.runsc(*args),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=30,
                    check=False,
                )
        with contextlib.suppress(OSError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._finish()

    def close(self) -> None:
        """Stop it politely: end of input makes the supervisor exit."""
        try:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
            return
        self._finish()

    def _finish(self) -> None:
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("sandbox %s does not exit", self.name)
            return  # the reaper stops it when the runner exits
        if self.reaped is not None:
            REAPER.forget(self.reaped)
        streams = [self.process.stdin, self.process.stdout]
        self._drain.join(timeout=5)
        if not self._drain.is_alive():  # closing it under a blocked reader could hang
            streams.append(self.process.stderr)
        for stream in streams:
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def parent_pids() -> dict[int, int]:
    """pid -> parent pid of every process this one can see (from /proc/*/stat)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except OSError:
                continue
            parents[int(name)] = int(stat[stat.rfind(b")") + 2 :].split()[1])
    return parents
