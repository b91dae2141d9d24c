"""`codeinstruct sandbox exec|serve`: run programs by hand, or serve the executor over HTTP."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.records import jsonl_objects
from codeinstruct.workers.sandbox.jobs import Job
from codeinstruct.workers.sandbox.languages import SUPPORTED, UnknownLanguage, language_of_path
from codeinstruct.workers.sandbox.python_env import PythonEnv, resolve
from codeinstruct.workers.spec import Isolation, Sandbox

DEFAULTS = Sandbox()


def add_parser(commands: Any) -> None:
    sandbox = commands.add_parser("sandbox", help="run untrusted programs in the sandbox")
    actions = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")

    run = actions.add_parser(
        "exec",
        help="run a program (or a JSONL batch) and print its result as JSON",
        description="Prints one JSON result (verdict pass|fail|timeout|error|infra_error and "
        "its reason, exit code, duration, CPU time, capped stdout/stderr, test-case counts). "
        "The language of PROGRAM comes from its extension (.py .js .ts .c .cc/.cpp .go .rs "
        '.java .sh). With --jsonl, reads one {"id", "language"?, "program", "timeout"?} per '
        "line and prints one result per line, in order.",
    )
    run.add_argument(
        "program", nargs="?", metavar="PROGRAM", help="a program file; `-` reads standard input"
    )
    run.add_argument(
        "--language",
        help=f"the language of PROGRAM (default: from its extension; `-`: python); one of "
        f"{', '.join(SUPPORTED)}",
    )
    run.add_argument("--jsonl", metavar="JOBS.jsonl", help="a batch of jobs, one per line")
    _limits(run)
    run.set_defaults(handler=cmd_exec)

    serve = actions.add_parser(
        "serve",
        help="serve the executor over HTTP (for sandbox pods)",
        description="Inside a pod that runs under runtimeClassName gvisor, use --isolation none: "
        "the pod is already the gVisor sandbox, and each job is still confined by the supervisor "
        "(user nobody, fresh directory, rlimits, process-group kill).",
    )
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--host", default="127.0.0.1", help="0.0.0.0 in a pod")
    serve.add_argument("--max-queue", type=int, default=4096, help="429 beyond this many jobs")
    serve.add_argument(
        "--no-gvisor-check",
        action="store_true",
        help="with --isolation none, start even when gVisor is not detected underneath "
        "(generated code then runs with only the supervisor's per-job confinement)",
    )
    _limits(serve)
    serve.set_defaults(handler=cmd_serve)

    env = actions.add_parser(
        "python-env",
        help="prepare the sandbox's Python environment and print its folder",
        description="Installs the packages (default: the spec's default `sandbox.python.packages`)"
        " into the cached environment the sandbox mounts, unless it is there already; "
        "scripts/install.sh runs it once.",
    )
    _python(env)
    env.set_defaults(handler=cmd_python_env)


def _limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULTS.timeout_seconds,
        metavar="S",
        help="CPU seconds per job (the wall clock caps a job at 10x that plus 1 s)",
    )
    parser.add_argument(
        "--memory", type=int, default=DEFAULTS.memory_mib, metavar="MiB", help="per job"
    )
    parser.add_argument(
        "--isolation",
        choices=[i.value for i in Isolation],
        default=DEFAULTS.isolation.value,
        help="gvisor (default), bubblewrap (namespaces only), none (no isolation: only "
        "inside a gVisor pod or a throwaway machine)",
    )
    parser.add_argument("--workers", type=int, default=DEFAULTS.workers, help="warm sandboxes")
    _python(parser)


def _python(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--python-packages",
        metavar="PKG,...",
        help="packages of the sandbox's Python, comma-separated, installed once into a cached "
        f"environment (default: {','.join(DEFAULTS.python.packages)}; '' for the standard "
        "library only)",
    )
    group.add_argument(
        "--python-prefix",
        metavar="DIR",
        help="an existing environment (virtual environment or installation) to run Python with",
    )


def python_of(args: argparse.Namespace) -> PythonEnv:
    """The sandbox's Python for the command line's `--python-*` flags (spec defaults)."""
    packages = (
        None
        if args.python_packages is None
        else [p.strip() for p in args.python_packages.split(",") if p.strip()]
    )
    return resolve(packages, args.python_prefix)


def read_jobs(path: str) -> list[dict[str, Any]]:
    """Jobs of a JSONL file; UserError naming the line of a malformed one."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as error:
        raise UserError(f"{path}: cannot read the file: {error.strerror}") from None
    return jsonl_objects(
        data,
        path,
        expected='{"id", "language"?, "program", "timeout"?}',
        accept=lambda item: isinstance(item.get("program"), str),
    )


def job_of(item: dict[str, Any], index: int, where: str) -> Job:
    """The Job of one JSON object (the one job format of `--jsonl`, the service and the
    stages); UserError naming the line and the field of a wrong one."""
    from codeinstruct.workers.sandbox.languages import language

    name = item.get("language", "python")
    if not isinstance(name, str):
        raise UserError(f"{where}: `language` must be a string, one of {', '.join(SUPPORTED)}")
    try:
        language(name, f"{where}: `language`")
    except UnknownLanguage as error:
        raise UserError(str(error)) from None
    return Job(
        id=str(item.get("id", index)),
        program=item["program"],
        timeout=item.get("timeout"),
        memory_mib=item.get("memory_mib"),
        language=name,
    )


def cmd_exec(args: argparse.Namespace) -> int:
    from codeinstruct.workers.sandbox.warm_pool import Pool

    if (args.program is None) == (args.jsonl is None):
        raise UserError("sandbox exec: give either PROGRAM.py or --jsonl JOBS.jsonl")
    if args.jsonl:
        items = read_jobs(args.jsonl)
        jobs = [
            job_of(item, index, f"{args.jsonl}: line {index + 1}")
            for index, item in enumerate(items)
        ]
    else:
        try:
            name = args.language or (
                "python" if args.program == "-" else language_of_path(args.program)
            )
        except UnknownLanguage as error:
            raise UserError(f"{error}, or pass --language") from None
        try:
            text = sys.stdin.read() if args.program == "-" else Path(args.program).read_text()
        except OSError as error:
            raise UserError(f"{args.program}: cannot read the file: {error.strerror}") from None
        jobs = [job_of({"id": args.program, "program": text, "language": name}, 0, "--language")]
    workers = max(1, min(args.workers, len(jobs)))
    python = python_of(args)
    with Pool(args.isolation, workers, args.timeout, args.memory, python=python) as pool:
        for result in pool.run(jobs):
            print(json.dumps(result.to_dict(), ensure_ascii=False), flush=True)
    return 0


def require_gvisor(isolation: str, override: bool) -> None:
    """`--isolation none` trusts the pod's runtime class: check that gVisor is really there."""
    from codeinstruct.workers.sandbox.gvisor import detect

    if isolation != Isolation.NONE.value or override:
        return
    if not detect():
        raise UserError(
            "sandbox serve --isolation none: gVisor is not detected underneath (neither "
            "/proc/version nor dmesg shows its kernel), so generated code would run on the "
            "node's kernel. Run the pod with a RuntimeClass whose handler is runsc, use "
            "--isolation gvisor, or pass --no-gvisor-check to start anyway"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    from codeinstruct.workers.sandbox.service import serve
    from codeinstruct.workers.sandbox.warm_pool import Pool

    require_gvisor(args.isolation, args.no_gvisor_check)
    python = python_of(args)
    with Pool(args.isolation, args.workers, args.timeout, args.memory, python=python) as pool:
        print(
            f"codeinstruct sandbox serve: {args.workers} {args.isolation} sandbox(es) on "
            f"http://{args.host}:{args.port}",
            file=sys.stderr,
            flush=True,
        )
        serve(pool, args.host, args.port, args.max_queue)
    return 0


def cmd_python_env(args: argparse.Namespace) -> int:
    print(python_of(args).prefix)
    return 0
