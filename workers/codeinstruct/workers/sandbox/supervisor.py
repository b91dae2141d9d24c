"""The job server that runs INSIDE each sandbox: standard library only, started once per sandbox.

Protocol: after start it writes `{"ready": true, ...}`; then for each job line on stdin
(`{"id", "language", "program", "timeout", "memory_mib"}`) it writes one result line on stdout
(`{"id", "exit_code", "signal", "timed_out", "stdout", "stderr", "stdout_truncated",
"stderr_truncated", "duration", "sandbox_seconds", "cpu_seconds", ...}`). A compiled
language's job first writes `{"phase": "run", "id"}` once it compiled; while a job runs, the
host may send `{"cancel": id}` (it measured the job's CPU time used up). Each job runs in a
forked child: a new session, the `nobody` user, a fresh empty working directory on the tmpfs,
and rlimits on CPU time, address space, file size, open files and processes. Python runs in
the child itself; other languages (`languages.py`) are compiled by children of it, then
exec'd. The wall cap kills the child's process group; the supervisor is a child subreaper, so
processes that escaped the group (double forks, `setsid`) come back to it and are killed and
reaped before the next job.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import math
import os
import resource
import select
import shutil
import signal
import sys
import threading
import time
import traceback
import types

try:  # inside a sandbox the launcher registers them under these names (standard library only)
    import codeinstruct_sandbox_checks as checks
    import codeinstruct_sandbox_languages as languages
except ImportError:
    from codeinstruct.workers.sandbox import checks, languages

NOBODY = 65534
OUTPUT_CAP = 64 * 1024
# A job that writes more than this on one stream is stopped (`output_limit`): a flood.
OUTPUT_KILL = 32 * 1024 * 1024
FILE_LIMIT_MIB = 64
OPEN_FILES = 256
PROCESSES = 32
DEFAULT_TIMEOUT = 10.0
DEFAULT_MEMORY_MIB = 1024
SCRATCH = os.environ.get("CODEINSTRUCT_SCRATCH", "/tmp")
# More directories a job can write to (a sandbox pod's /tmp and /dev/shm): emptied, with the
# scratch directory, before the first job and after each; paths in KEEP (the Python
# environment) and the folders above them are kept.
WIPE = [p for p in os.environ.get("CODEINSTRUCT_WIPE", "").split(":") if p]
KEEP = [p for p in os.environ.get("CODEINSTRUCT_KEEP", "").split(":") if p]
PR_SET_CHILD_SUBREAPER = 36
# Alone in a PID namespace of its own (gVisor, bubblewrap): every `nobody` process is a job's.
OWN_PIDS = os.environ.get("CODEINSTRUCT_OWN_PIDS") == "1"
PAGE = os.sysconf("SC_PAGE_SIZE")
# How often a running job's total memory (all its processes) is measured.
MEMORY_CHECK_SECONDS = 0.1
CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 2, 4, 8, 1 << 14, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
CAPABILITY_VERSION_3 = 0x20080522
# Lines the job's own code writes on the channel of a compiled-language job (before exec).
COMPILED = b"compiled "


def become_subreaper() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except Exception:
        return False


def process_table() -> dict[int, tuple[int, int]]:
    """Every visible process: pid -> (parent pid, resident pages), from /proc/<pid>/stat."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 21:
            table[int(name)] = (int(fields[1]), int(fields[21]))
    return table


def children(parent: int) -> list[int]:
    """Pids whose parent is `parent`."""
    return [pid for pid, (ppid, _) in process_table().items() if ppid == parent]


def descendants_rss(root: int) -> int:
    """Resident bytes of all processes below `root` (a job's processes, wherever they went)."""
    table = process_table()
    parents = {pid: ppid for pid, (ppid, _) in table.items()}
    resident = {pid: rss for pid, (_, rss) in table.items()}
    total = 0
    for pid in resident:
        ancestor = parents.get(pid)
        for _ in range(64):
            if ancestor is None or ancestor == root:
                break
            ancestor = parents.get(ancestor)
        if ancestor == root:
            total += resident[pid]
    return total * PAGE


def kill_every_nobody() -> None:
    """SIGKILL every process of user `nobody` in this sandbox at once, from a child that
    becomes `nobody` (kill(-1) as that user): what a fork bomb respawns one at a time cannot
    outrun it."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


class DirtyScratch(Exception):
    """Something a job left could not be removed: no other job may run here."""


# How long kills may take to empty a sandbox of a job's processes before it stops.
REAP_SECONDS = 10.0


def reap_all(nobody: bool = False) -> None:
    """Kill and reap every remaining descendant (they were reparented to us); with `nobody`
    (jobs run as that user) survivors of the first round are killed all at once. DirtyScratch
    when some are still there after `REAP_SECONDS`: they would run beside the next job."""
    me = os.getpid()
    deadline = time.monotonic() + REAP_SECONDS
    first = True
    while True:
        while True:
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                pid = 0
            if pid == 0:
                break
        left = children(me)
        if not left:
            return
        if time.monotonic() > deadline:
            pids = ", ".join(map(str, left[:5]))
            raise DirtyScratch(f"processes of a job outlived {REAP_SECONDS:g} s of kills: {pids}")
        if nobody and not first:
            kill_every_nobody()
        first = False
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def wipe(roots: list[str], keep: list[str]) -> None:
    """Empty each of `roots` (they stay), except the paths in `keep` and the folders that lead
    to a root or a kept path; DirtyScratch when anything else is left (a job made it
    unremovable)."""
    kept = {os.path.realpath(p) for p in keep}
    tops = {os.path.realpath(p) for p in roots if os.path.isdir(p)}
    leads = {os.path.dirname(p) for p in kept | tops}
    for path in list(leads):
        while path not in ("/", ""):
            leads.add(path)
            path = os.path.dirname(path)
    left = []
    for top in sorted(tops):
        left += _wipe_below(top, kept, tops, leads)
    if left:
        raise DirtyScratch(f"cannot remove what a job left: {', '.join(left[:5])}")


def _wipe_below(folder: str, kept: set[str], tops: set[str], leads: set[str]) -> list[str]:
    """Remove the entries of `folder` but the kept ones; the paths that stayed."""
    left = []
    with contextlib.suppress(OSError):
        os.chmod(folder, os.stat(folder).st_mode | 0o700)  # a job may have made it 000
    try:
        names = os.listdir(folder)
    except OSError:
        return [folder]
    for name in names:
        path = os.path.join(folder, name)
        if path in kept:
            continue
        if (path in leads or path in tops) and not os.path.islink(path):
            left += _wipe_below(path, kept, tops, leads)
            continue
        _remove(path)
        if os.path.lexists(path):
            left.append(path)
    return left


def _remove(path: str) -> None:
    """Remove a file or a tree (fd-relative, so depth is no obstacle); folders a job made
    unreadable are opened up first."""
    if not os.path.isdir(path) or os.path.islink(path):
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    shutil.rmtree(path, ignore_errors=True)
    if not os.path.lexists(path):
        return
    with contextlib.suppress(OSError):
        os.chmod(path, 0o700)
    for root, dirs, _files in os.walk(path, onerror=lambda _error: None):
        for name in dirs:  # before the walk goes into them (links are left to rmtree)
            folder = os.path.join(root, name)
            with contextlib.suppress(OSError):
                if not os.path.islink(folder):
                    os.chmod(folder, 0o700)
    shutil.rmtree(path, ignore_errors=True)


def wipe_left_behind() -> None:
    """Every file a job left anywhere it could write, not only its working directory."""
    wipe([own_scratch(), *WIPE], KEEP)


def own_scratch() -> str:
    """This supervisor's folder in SCRATCH (made on first use): its jobs' working directories."""
    path = os.path.join(SCRATCH, f"box-{os.getpid()}")
    if not os.path.isdir(path):
        os.mkdir(path, 0o711)
    return path


def limit(kind: int, value: int) -> None:
    try:
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        _soft, hard = resource.getrlimit(kind)
        capped = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (capped, capped))


def _libc() -> object:
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _write(path: str, text: str) -> bool:
    try:
        with open(path, "w") as handle:
            handle.write(text)
        return True
    except OSError:
        return False


def _drop_capabilities(libc: object) -> None:
    """No capabilities left, in any namespace: the mounts just made cannot be undone."""
    import ctypes

    header = (ctypes.c_uint32 * 2)(CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # type: ignore[attr-defined]
    if libc.capset(header, data) != 0:  # type: ignore[attr-defined]
        raise OSError(ctypes.get_errno(), "capset")


def private_namespaces(job: dict, workdir: str) -> str:
    """Put the job where it cannot see the server, the supervisor or other jobs, without root
    (the supervisor's user is not root, so jobs keep its user id): a new user, PID, mount and
    IPC namespace, a private tmpfs over the scratch directory (other jobs' directories vanish),
    a fresh /proc, then no capabilities. Forks: this process waits for the job (PID 1 of its
    namespace) and ends as it ended. Returns the job's working directory.

    Where the kernel refuses the id maps (gVisor does, for unprivileged users) only the PID
    namespace is made: the job cannot signal the server, but can see the scratch directory.
    Where it refuses user namespaces altogether, the job runs as before.
    """
    libc = _libc()
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC
    if (
        libc.unshare(flags) != 0  # type: ignore[attr-defined]
        and libc.unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0  # type: ignore[attr-defined]
    ):
        return workdir  # no user namespaces here (the `none` warning already says so)
    mapped = (
        _write("/proc/self/setgroups", "deny")
        and _write("/proc/self/uid_map", f"0 {uid} 1")
        and _write("/proc/self/gid_map", f"0 {gid} 1")
    )
    pid = os.fork()
    if pid:
        _wait_and_mirror(pid)
    if mapped:
        scratch = SCRATCH  # over the whole scratch: every other supervisor's folder vanishes
        for source, target, kind, options, data in (
            (None, "/", None, MS_REC | MS_PRIVATE, None),
            (b"tmpfs", scratch, b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0700,size=512m"),
            (b"proc", "/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None),
        ):
            target_bytes = target.encode()
            if libc.mount(source, target_bytes, kind, options, data) != 0:  # type: ignore[attr-defined]
                raise OSError(f"cannot mount {target} for the job")
        os.makedirs(workdir, 0o700)
        write_files(workdir, job["files"])
        _drop_capabilities(libc)
    return workdir


def private_scratch_works() -> bool:
    """Whether a job here gets a scratch directory no job of another supervisor can see: the
    kernel grants a non-root process the id maps and mounts of a user namespace (Linux does,
    gVisor does not). Tried in a child that exits at once."""
    pid = os.fork()
    if pid == 0:
        try:
            libc = _libc()
            uid, gid = os.geteuid(), os.getegid()
            works = (
                libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0  # type: ignore[attr-defined]
                and _write("/proc/self/setgroups", "deny")
                and _write("/proc/self/uid_map", f"0 {uid} 1")
                and _write("/proc/self/gid_map", f"0 {gid} 1")
                and libc.mount(b"tmpfs", SCRATCH.encode(), b"tmpfs", 0, b"size=1m") == 0  # type: ignore[attr-defined]
            )
        except BaseException:
            works = False
        os._exit(0 if works else 1)
    return os.waitstatus_to_exitcode(_wait(pid)) == 0


def write_files(workdir: str, files: dict[str, str]) -> None:
    for name, text in files.items():
        with open(os.path.join(workdir, name), "w", encoding="utf-8") as handle:
            handle.write(text)


def _wait(pid: int) -> int:
    """The wait status of child `pid`, waiting through interrupted calls."""
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def _wait_and_mirror(pid: int) -> None:
    """Wait for the job, then end the same way (exit status or signal); never returns."""
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    try:
        status = _wait(pid)
    except ChildProcessError:
        os._exit(1)
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)


def child_main(
    job: dict, workdir: str, out_w: int, err_w: int, checks_w: int, drop_user: bool
) -> None:
    """In the forked child: confine, then run the program as `__main__`; never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as the interpreter sets it up
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        # Above the open-file limit set below: the program cannot dup2 anything onto it.
        os.dup2(checks_w, checks.CHANNEL_FD, inheritable=False)
        os.closerange(3, checks.CHANNEL_FD)
        os.closerange(checks.CHANNEL_FD + 1, 65536)
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        if job.get("private"):
            workdir = private_namespaces(job, workdir)
        os.chdir(workdir)
        # A backstop: the CPU time of all the job's processes is measured (the host's, under
        # gVisor) and the job stopped when it is used up; this limit only catches one process.
        native = job.get("plan")
        cpu = math.ceil(languages.wall_cap(float(job["timeout"]))) + 1
        if native and native["compile"]:
            cpu += math.ceil(languages.COMPILE_CPU_SECONDS)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        address_space_mib = int(native["address_space_mib"] if native else job["memory_mib"])
        limit(resource.RLIMIT_AS, address_space_mib * 1024 * 1024)
        limit(resource.RLIMIT_FSIZE, FILE_LIMIT_MIB * 1024 * 1024)
        limit(resource.RLIMIT_NOFILE, OPEN_FILES)
        limit(resource.RLIMIT_NPROC, int(native["processes"]) if native else PROCESSES)
        limit(resource.RLIMIT_CORE, 0)
        if drop_user:
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
        os.environ.clear()
        os.environ.update(
            {
                "PATH": "/usr/local/bin:/usr/bin:/bin",
                "HOME": workdir,
                "LANG": "C.UTF-8",
                "TMPDIR": workdir,
                "MALLOC_ARENA_MAX": str(languages.MALLOC_ARENAS),
            }
        )
        if native:
            run_native(native)  # never returns
        sys.argv = ["main.py"]
        sys.path[0:0] = [workdir]
        path = os.path.join(workdir, "main.py")
        code = run_checked(job, path) if job.get("tests") is not None else run_program(path)
    except BaseException:
        traceback.print_exc()
    os._exit(code)


def run_native(plan: dict) -> None:
    """A compiled or interpreted program of another language: compile it (each step a child
    process under the job's limits; the channel says whether it compiled, so a compile error is
    told from a run-time one by what the supervisor saw), then exec the program. The channel is
    close-on-exec: neither the compiler nor the program can write on it."""
    for step in plan["compile"]:
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(2, 1)  # compilers that report on stdout (tsc): the message is in stderr
                os.execvp(step[0], step)
            except BaseException:
                traceback.print_exc()
            os._exit(127)
        code = os.waitstatus_to_exitcode(_wait(pid))
        if code != 0:
            os.write(checks.CHANNEL_FD, COMPILED + str(code).encode() + b"\n")
            os._exit(1)
    os.write(checks.CHANNEL_FD, COMPILED + b"0\n")
    if plan.get("nonce"):  # a checked javascript/typescript job: its preload counts asserts
        nonce_r, nonce_w = os.pipe()
        os.write(nonce_w, plan["nonce"].encode())
        os.close(nonce_w)
        if nonce_r != checks.NONCE_FD:
            os.dup2(nonce_r, checks.NONCE_FD)
            os.close(nonce_r)
        os.set_inheritable(checks.NONCE_FD, True)
        os.set_inheritable(checks.CHANNEL_FD, True)
    try:
        os.execvp(plan["run"][0], plan["run"])
    except OSError as error:
        print(f"cannot run {plan['run'][0]}: {error}", file=sys.stderr, flush=True)
    os._exit(127)


def run_program(path: str) -> int:
    """Run `path` as the interpreter runs a script (`__main__`, exit status, shutdown)."""
    code = 0
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    module = types.ModuleType("__main__")
    module.__file__ = path
    sys.modules["__main__"] = module
    try:
        with open(path, encoding="utf-8") as handle:
            # Not under this module's `__future__` flags: the program's annotations are its own.
            compiled = compile(handle.read(), path, "exec", dont_inherit=True)
        exec(compiled, module.__dict__)
    except SystemExit as stop:
        code = exit_status(stop.code)
    except BaseException as error:
        # Skip this frame: the traceback reads as if the script had been run directly.
        tb = error.__traceback__.tb_next if error.__traceback__ else None
        traceback.print_exception(type(error), error, tb)
        code = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    return code


def run_checked(job: dict, path: str) -> int:
    """Run a job's solution, then its tests, counting checks (see `checks.py`); the status the
    program ended with goes to the supervisor before atexit handlers run.

    The code comes compiled from the host when it could (`precompiled`, `checks.Precompiled`).
    With `variants` (other solutions, e.g. a null variant and mutants), each runs in turn with
    the same tests, in a fresh `__main__`, its lines on the channel after a `V <index>` line;
    `program` itself is not run then.
    """
    nonce = job.pop("nonce")
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
    variants = job.get("variants")
    shipped = job.pop("precompiled", None)
    precompiled = shipped and checks.Precompiled.loads(shipped["token"], shipped["code"])
    if precompiled and len(precompiled.solutions) != len(variants or [job["program"]]):
        precompiled = None  # not this job's: its sources are compiled here
    status = 0
    if variants is None:
        recorder = checks.Recorder(nonce)
        status = check_once(job["program"], job["tests"], recorder, path, precompiled)
    else:
        budget = float(job.get("variant_timeout") or job["timeout"])
        cpu = float(job.get("variant_cpu_seconds") or 0.0)
        signal.signal(signal.SIGALRM, _variant_timed_out)
        signal.signal(signal.SIGPROF, _variant_timed_out)
        recorder = checks.Recorder(nonce)  # one for all: the tests are compiled once
        for index, solution in enumerate(variants):
            recorder.reset()
            recorder.send("V", index)
            check_once(solution, job["tests"], recorder, path, precompiled, index, budget, cpu)
            for thread in threading.enumerate():
                if thread is not threading.main_thread() and not thread.daemon:
                    thread.join()
    try:
        if variants is None:
            threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    return status


class VariantTimeout(BaseException):
    """A variant used up its share of the job's time (raised by SIGALRM in the main thread)."""


def _variant_timed_out(signum: int, frame: object) -> None:
    raise VariantTimeout


def check_once(
    solution: str,
    tests: str,
    recorder: checks.Recorder,
    path: str,
    precompiled: checks.Precompiled | None = None,
    index: int = 0,
    budget: float = 0.0,
    cpu: float = 0.0,
) -> int:
    """One checked run in a fresh `__main__`; sends its end line; returns its status. Its code
    is solution number `index` of `precompiled` when the host compiled the job. With a
    `budget` (wall seconds, variants only) or a `cpu` budget (CPU seconds), a run that takes
    longer is stopped and marked timed out. The budgets end before any handler below runs, and
    a variant's error is not printed (its verdict comes from the channel alone): a variant
    cannot spend the time of the ones after it while being reported."""
    module = types.ModuleType("__main__")
    module.__file__ = path
    sys.modules["__main__"] = module
    namespace = module.__dict__
    checks.CURRENT.recorder = recorder
    status = 0
    program = None
    variant = bool(budget or cpu)
    try:
        try:
            if budget:
                signal.setitimer(signal.ITIMER_REAL, budget)
            if cpu:
                signal.setitimer(signal.ITIMER_PROF, cpu)
            program = checks.CheckedProgram(solution, tests, recorder, precompiled, index)
            if "unittest" in solution or "unittest" in tests:
                checks.count_unittest()
            exec(program.solution, namespace)
            recorder.solution_done()
            try:
                exec(program.tests, namespace)
            except SystemExit as stop:
                status = exit_status(stop.code, quiet=variant)
            if status == 0:
                checks.collect_and_run(namespace, recorder)
        finally:
            if budget:
                signal.setitimer(signal.ITIMER_REAL, 0)
            if cpu:
                signal.setitimer(signal.ITIMER_PROF, 0)
    except SystemExit as stop:
        status = exit_status(stop.code, quiet=variant)
    except VariantTimeout:
        recorder.send("T")
        status = 124
    except BaseException as error:
        if not variant:
            tb = error.__traceback__.tb_next if error.__traceback__ else None
            traceback.print_exception(type(error), error, tb)
        status = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            try:
                thread.join()
            except BaseException:
                status = status or 1
    skipped = len(program.required_lines - recorder.lines) if program else 0
    recorder.end(status, skipped)
    return status


def exit_status(value: object, quiet: bool = False) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    if not quiet:
        print(value, file=sys.stderr)
    return 1


class Spare:
    """A child forked before its job arrives: under gVisor's ptrace platform fork is the slowest
    step of a job, so it overlaps with the round trip to the host. The child waits for its job on
    a pipe, then confines itself (`child_main`)."""

    def __init__(self, drop_user: bool) -> None:
        started = time.monotonic()
        # The collector would touch every old object in the child: copy-on-write page faults,
        # which gVisor handles slowly. Frozen objects are left alone.
        gc.freeze()
        ctl_r, self.ctl_w = os.pipe()
        self.out_r, out_w = os.pipe()
        self.err_r, err_w = os.pipe()
        self.checks_r, checks_w = os.pipe()
        self.drop_user = drop_user
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.ctl_w)
            os.close(self.out_r)
            os.close(self.err_r)
            os.close(self.checks_r)
            chunks = []
            while chunk := os.read(ctl_r, 1 << 20):
                chunks.append(chunk)
            if not chunks:
                os._exit(0)
            job = json.loads(b"".join(chunks))
            child_main(job, job["workdir"], out_w, err_w, checks_w, drop_user)
        os.close(ctl_r)
        os.close(out_w)
        os.close(err_w)
        os.close(checks_w)
        # Part of its job's sandbox time, though spent before the job arrived.
        self.fork_seconds = time.monotonic() - started

    def start(self, job: dict) -> None:
        data = json.dumps(job).encode()
        while data:
            data = data[os.write(self.ctl_w, data) :]
        os.close(self.ctl_w)

    def close(self) -> None:
        for fd in (self.out_r, self.err_r, self.checks_r):
            with contextlib.suppress(OSError):
                os.close(fd)


class Lines:
    """JSON lines from the host on a raw descriptor: read between jobs (the next job) and
    during one (a `{"cancel": id}` when the host saw the job use up its CPU time)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.closed = False

    def fill(self) -> None:
        """Read what is there (blocks until something is)."""
        try:
            chunk = os.read(self.fd, 1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        if not chunk:
            self.closed = True
        self.buffer += chunk

    def pop(self) -> bytes | None:
        """The next complete line, if one arrived."""
        if b"\n" not in self.buffer:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def next(self) -> bytes | None:
        """The next line, waiting for it; None at end of input."""
        while True:
            line = self.pop()
            if line is not None:
                return line
            if self.closed:
                return None
            self.fill()

    def cancelled(self, job_id: object) -> bool:
        """Whether a cancel of `job_id` is among the lines that arrived (other lines stay)."""
        kept, found = [], False
        while (line := self.pop()) is not None:
            if line.strip() and _cancel_of(line) == job_id:
                found = True
            elif line.strip():
                kept.append(line)
        self.buffer = b"".join(line + b"\n" for line in kept) + self.buffer
        return found


def _cancel_of(line: bytes) -> object:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message.get("cancel", None) if isinstance(message, dict) else None


def job_files(job: dict) -> dict[str, str]:
    """The files a job's working directory starts with: its program (and tests), and for other
    languages than Python what its table entry adds; sets `job["plan"]` for those."""
    checked = job.get("tests") is not None
    text = job["program"] + ("\n\n" + job["tests"] if checked else "")
    name = job.get("language") or "python"
    if name == "python":
        return {"main.py": text}
    plan = job["plan"] = languages.plan(name, text, int(job["memory_mib"]))
    files = {plan["source"]: text, **plan["files"]}
    if checked:  # evidence that the tests executed an assertion (see `checks.py`)
        static = checks.static_check(name, job["program"], job["tests"])
        if static is not None:
            job["static_checks"] = static
        else:
            files[checks.PRELOAD_FILE] = checks.node_preload()
            node, *script = plan["run"]
            plan["run"] = [node, "--require", f"./{checks.PRELOAD_FILE}", *script]
            plan["nonce"] = os.urandom(8).hex()
    return files


def run_job(job: dict, spare: Spare, serial: int, wake_r: int, lines: Lines | None = None) -> dict:
    """Run one job in `spare` (used up, killed and reaped with everything it started)."""
    received = time.monotonic()
    timeout = float(job.get("timeout") or DEFAULT_TIMEOUT)
    job["timeout"] = timeout
    job["memory_mib"] = int(job.get("memory_mib") or DEFAULT_MEMORY_MIB)
    # In this supervisor's own folder: under `none` the sandboxes of a pool share SCRATCH.
    workdir = job["workdir"] = os.path.join(own_scratch(), f"job-{serial}")
    os.mkdir(workdir, 0o700)
    files = job["files"] = job_files(job)
    native = job.get("plan")
    checked = job.get("tests") is not None and native is None
    if checked:
        job["nonce"] = nonce = os.urandom(8).hex()
    write_files(workdir, files)
    if spare.drop_user:
        os.chown(workdir, NOBODY, NOBODY)
    start = time.monotonic()
    pid = spare.pid
    try:
        spare.start(job)
        pipes = {spare.out_r: "stdout", spare.err_r: "stderr"}
        if checked or native:
            pipes[spare.checks_r] = "checks"
        memory = job["memory_mib"] * 1024 * 1024
        compiles = bool(native and native["compile"])
        first = languages.COMPILE_WALL_SECONDS if compiles else languages.wall_cap(timeout)
        phases = Phases(job.get("id"), start + first, languages.wall_cap(timeout), compiles, lines)
        result = watch(pid, pipes, phases, wake_r, memory)
    finally:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        reap_all(spare.drop_user and OWN_PIDS)
        spare.close()
        wipe_left_behind()
    ended = time.monotonic()
    result["duration"] = round(ended - start, 4)
    result["sandbox_seconds"] = round(spare.fork_seconds + ended - received, 4)
    result["id"] = job.get("id")
    channel = result.pop("channel")
    if native:
        result["language"] = job.get("language")
        compiled = [line for line in channel.splitlines() if line.startswith(COMPILED)]
        # The first: a checked node program inherits the channel and may write lines on it.
        result["compiled"] = bool(compiled) and compiled[0] == COMPILED + b"0"
        result["compile_error"] = bool(compiled) and not result["compiled"]
        result["run_seconds"] = round(time.monotonic() - phases.run_started, 4)
        if native.get("nonce"):
            reported = [line for line in channel.splitlines() if not line.startswith(COMPILED)]
            result["checks"] = checks.summarize_asserts(reported, native["nonce"])
        elif job.get("static_checks") is not None:
            result["checks"] = job["static_checks"]
    if checked and job.get("variants") is not None:
        result["variant_checks"] = checks.summarize_variants(channel, nonce)
        result["variants_total"] = len(job["variants"])
    elif checked:
        result["checks"] = checks.summarize(channel, nonce)
    if result["memory_exceeded"]:
        note = (
            f"\nMemoryError: the job's processes together used more than {job['memory_mib']} MiB\n"
        )
        result["stderr"] += note
    # The RLIMIT_CPU backstop (not a kill of ours: those say why they happened).
    ours = any(result[key] for key in ("timed_out", "memory_exceeded", "output_exceeded"))
    backstop = result["signal"] == signal.SIGXCPU or (
        result["signal"] == signal.SIGKILL and result["cpu_seconds"] >= timeout
    )
    if backstop and not ours:
        result["timed_out"] = True
        result["cpu_exceeded"] = True
    return result


class Phases:
    """The wall deadline of a job: the compiler's cap, then the run's from when it compiled,
    and the host's word that the job used up its CPU time."""

    def __init__(
        self,
        job_id: object,
        deadline: float,
        run_wall: float,
        compiles: bool,
        lines: Lines | None,
    ) -> None:
        self.job_id = job_id
        self.deadline = deadline
        self.run_wall = run_wall
        self.compiling = compiles
        self.lines = lines
        self.run_started = time.monotonic()

    def compiled(self, channel: bytes) -> None:
        """Once the channel says the program compiled, the run's own wall cap starts; the host
        is told (it measures the run's CPU time from there)."""
        if self.compiling and COMPILED + b"0\n" in channel:
            self.compiling = False
            self.run_started = time.monotonic()
            self.deadline = self.run_started + self.run_wall
            sys.stdout.buffer.write(json.dumps({"phase": "run", "id": self.job_id}).encode())
            sys.stdout.buffer.write(b"\n")
            sys.stdout.buffer.flush()


def watch(pid: int, pipes: dict[int, str], phases: Phases, wake_r: int, memory: int) -> dict:
    """Collect capped output until the child exits, its wall cap passes, the host cancels it
    (CPU time used up), a stream passes `OUTPUT_KILL` or its processes together hold more than
    `memory` bytes (then kill its group)."""
    output = {name: bytearray() for name in pipes.values()}
    cut = dict.fromkeys(pipes.values(), False)
    poller = select.poll()
    for fd in (*pipes, wake_r):
        poller.register(fd, select.POLLIN)
    open_fds = set(pipes)
    lines = phases.lines
    if lines is not None:
        poller.register(lines.fd, select.POLLIN)
    written = dict.fromkeys(pipes.values(), 0)
    status = None
    usage = None
    timed_out = False
    cpu_exceeded = False
    output_exceeded = False
    memory_exceeded = False
    next_check = time.monotonic() + MEMORY_CHECK_SECONDS

    def read(fd: int) -> int:
        """Bytes read (0 at end of file, -1 when nothing is ready)."""
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return -1
        if not data:
            poller.unregister(fd)
            open_fds.discard(fd)
            return 0
        name = pipes[fd]
        written[name] += len(data)
        room = OUTPUT_CAP - len(output[name])
        if len(data) > room:
            cut[name] = True
        output[name] += data[: max(room, 0)]
        return len(data)

    def stop() -> None:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)

    while True:
        left = phases.deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            stop()
            break
        now = time.monotonic()
        if now >= next_check:
            next_check = now + MEMORY_CHECK_SECONDS
            if descendants_rss(os.getpid()) > memory:
                memory_exceeded = True
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
                break
        for fd, _event in poller.poll(max(0.0, min(left, next_check - now)) * 1000):
            if fd == wake_r:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake_r, 4096)
            elif lines is not None and fd == lines.fd:
                lines.fill()
                if lines.closed:
                    poller.unregister(fd)
            elif fd in open_fds:
                read(fd)
        if "checks" in output:
            phases.compiled(bytes(output["checks"]))
        if lines is not None and lines.cancelled(phases.job_id):
            timed_out = cpu_exceeded = True
            stop()
            break
        if max(written.values()) > OUTPUT_KILL:
            output_exceeded = True
            stop()
            break
        if status is None:
            done, raw, usage = os.wait4(pid, os.WNOHANG)
            if done:
                status = raw
        if status is not None and open_fds:
            # The child is gone: take what is already in the pipes, not what survivors write.
            for fd in list(open_fds):
                os.set_blocking(fd, False)
                for _ in range(256):
                    if read(fd) <= 0:
                        break
        if status is not None:
            break
    if status is None:
        _done, status, usage = os.wait4(pid, 0)
    exit_code = os.waitstatus_to_exitcode(status)
    return {
        "exit_code": exit_code if exit_code >= 0 else None,
        "signal": -exit_code if exit_code < 0 else None,
        "timed_out": timed_out,
        "cpu_exceeded": cpu_exceeded,
        "wall_exceeded": timed_out and not cpu_exceeded,
        "output_exceeded": output_exceeded,
        "memory_exceeded": memory_exceeded,
        "channel": bytes(output.get("checks", b"")),
        "stdout": bytes(output["stdout"]).decode("utf-8", "replace"),
        "stderr": bytes(output["stderr"]).decode("utf-8", "replace"),
        "stdout_truncated": cut["stdout"],
        "stderr_truncated": cut["stderr"],
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 4) if usage else 0.0,
    }


def take_next_pid() -> None:
    """Start a process that exits at once. In a PID namespace of its own the sandbox's first
    job would otherwise be pid 2, its parent's + 1 and the first process started: tests could
    tell the first job of a fresh sandbox (a sample's original run) from its variants' job."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    _wait(pid)


def main() -> None:
    drop_user = os.geteuid() == 0 and os.environ.get("CODEINSTRUCT_DROP_USER", "1") == "1"
    # Jobs that cannot get a user of their own get namespaces of their own.
    private = not drop_user and os.environ.get("CODEINSTRUCT_PRIVATE_JOBS", "1") == "1"
    subreaper = become_subreaper()
    try:
        wipe_left_behind()  # what a supervisor before this one left
    except DirtyScratch as error:
        print(f"supervisor: {error}", file=sys.stderr, flush=True)
        sys.exit(3)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a dead spare: EPIPE, not our death
    out = sys.stdout.buffer
    ready = {
        "ready": True,
        "pid": os.getpid(),
        "subreaper": subreaper,
        "drop_user": drop_user,
        "private_jobs": private,
        # Whether jobs of several supervisors sharing this filesystem cannot see each other's
        # files (`sandbox serve --isolation none` runs one supervisor when they can).
        "private_scratch": private and private_scratch_works(),
        # Checked jobs may come compiled (`checks.Precompiled`) for this bytecode.
        "bytecode": checks.BYTECODE,
    }
    out.write(json.dumps(ready).encode() + b"\n")
    out.flush()
    serial = 0
    take_next_pid()
    spare: Spare | None = Spare(drop_user)
    lines = Lines(sys.stdin.fileno())
    while (line := lines.next()) is not None:
        if not line.strip() or _cancel_of(line) is not None:
            continue  # a cancel that came after its job ended
        serial += 1
        try:
            job = json.loads(line)
            if job.get("language", "python") not in languages.LANGUAGES:
                result = {"id": job.get("id"), "unsupported": f"language {job.get('language')!r}"}
            else:
                used, spare = spare or Spare(drop_user), None
                job["private"] = private
                result = run_job(job, used, serial, wake_r, lines)
        except DirtyScratch as error:
            # The next job would see what this one left: no next job here.
            result = {"id": job.get("id"), "internal_error": str(error)}
            out.write(json.dumps(result).encode() + b"\n")
            out.flush()
            sys.exit(3)
        except Exception:
            result = {"id": None, "internal_error": traceback.format_exc(limit=5)}
            with contextlib.suppress(Exception):
                result["id"] = json.loads(line).get("id")
        out.write(json.dumps(result).encode() + b"\n")
        out.flush()
        if spare is None:
            spare = Spare(drop_user)


if __name__ == "__main__":
    main()
