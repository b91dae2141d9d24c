"""The `codeinstruct` command line.

Each subcommand lives next to what it drives; this module only wires them up. User mistakes end
with one clear line per problem on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

from rich.console import Console
from rich.markup import escape

from codeinstruct.workers import __version__
from codeinstruct.workers.errors import UserError
from codeinstruct.workers.spec import SpecError, load_spec

# Subcommands defined next to what they drive register under this entry-point group (see
# pyproject.toml); each entry is a function that adds its parser. The data plane never names the
# operator's modules: the operator's commands come in through the same group.
COMMANDS_GROUP = "codeinstruct.commands"


# User text (paths, names, messages) goes through `escape`: `[...]` in it is never markup.
err = Console(stderr=True, highlight=False)


def print_problems(error: SpecError) -> None:
    for problem in error.problems:
        err.print(f"[red]{escape(error.source)}[/]: {escape(problem)}", soft_wrap=True)


def cmd_validate(args: argparse.Namespace) -> int:
    from codeinstruct.workers.benchmarks import benchmark_problems

    failed = 0
    for path in args.specs:
        try:
            dataset = load_spec(path)
            problems = benchmark_problems(dataset.spec.decontamination)
            if problems:
                raise SpecError(str(path), problems)
        except SpecError as error:
            failed += 1
            print_problems(error)
            continue
        spec = dataset.spec
        print(f"{path}: valid ({spec.method.value}, targetSize {spec.target_size})")
    return 2 if failed else 0


def serve_metrics(port: int) -> None:
    """The runner's LLM metrics (requests, latency, tokens by stage) for Prometheus."""
    from prometheus_client import start_http_server

    start_http_server(port)


def cmd_run(args: argparse.Namespace) -> int:
    from codeinstruct.workers.runner import Runner
    from codeinstruct.workers.spec import Output
    from codeinstruct.workers.termination import stop_on_sigterm_like_ctrl_c

    stop_on_sigterm_like_ctrl_c()
    dataset = load_spec(args.spec)
    if args.output:
        output = Output.model_validate({**dataset.spec.output.model_dump(), "uri": args.output})
        dataset = dataset.model_copy(
            update={"spec": dataset.spec.model_copy(update={"output": output})}
        )
    if args.metrics_port:
        serve_metrics(args.metrics_port)
    runner = Runner(dataset, console=err, progress=not args.no_progress and err.is_terminal)
    err.print(
        f"[bold]codeinstruct run[/] {escape(dataset.metadata.name)}: method "
        f"{dataset.spec.method.value}, output {escape(runner.store.uri(runner.ledger.prefix))}",
        soft_wrap=True,
    )
    report = runner.run(until=args.until)
    if report.resumed:
        err.print(f"[dim]resumed: {', '.join(report.resumed)} already complete[/]")
    if report.dataset_uri:
        err.print(
            f"[green bold]done[/]: {report.records} records -> {escape(report.dataset_uri)}",
            soft_wrap=True,
        )
    else:
        err.print(
            f"[green bold]stopped[/] after {args.until}: {report.records} records; no dataset "
            "(it is written after the method's last stage)"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codeinstruct",
        description="Build verified, leak-free instruction-tuning datasets for code LLMs.",
    )
    parser.add_argument("--version", action="version", version=f"codeinstruct {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="check InstructionDataset spec files")
    validate.add_argument("specs", nargs="+", metavar="SPEC.yaml")
    validate.set_defaults(handler=cmd_validate)

    run = commands.add_parser("run", help="run a spec on this machine (resumes where it stopped)")
    run.add_argument("spec", metavar="SPEC.yaml")
    run.add_argument("--output", metavar="URI", help="override spec.output.uri (dir or s3://)")
    run.add_argument("--until", metavar="STAGE", help="stop after this stage")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument(
        "--metrics-port", type=int, default=0, help="serve Prometheus /metrics here while running"
    )
    run.set_defaults(handler=cmd_run)

    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        add: Callable[[argparse._SubParsersAction], None] = entry.load()
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SpecError as error:
        print_problems(error)
        return 2
    except KeyboardInterrupt:
        from codeinstruct.workers import termination

        err.print(
            f"\n[yellow]interrupted[/] ({termination.stopped_by()}): committed shards are kept; "
            "rerun to resume"
        )
        return termination.exit_status()
    except UserError as error:
        err.print(f"[red]error[/]: {escape(str(error))}", soft_wrap=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
