"""The `codeinstruct` command line.

Each subcommand lives next to what it drives; this module only wires them up. User mistakes end
with one clear line per problem on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib import import_module

from rich.console import Console

from codeinstruct.workers import __version__
from codeinstruct.workers.errors import UserError
from codeinstruct.workers.spec import SpecError, load_spec

# (name, "module:function") of subcommands defined elsewhere; each function adds its parser.
EXTERNAL_COMMANDS: list[str] = [
    "codeinstruct.workers.spec_reference:add_parser",
    "codeinstruct.workers.sandbox.command:add_parser",
    "codeinstruct.workers.tli_command:add_parser",
    "codeinstruct.workers.verify_command:add_parser",
    "codeinstruct.operator.crd:add_parser",
    "codeinstruct.operator.main:add_parser",
]

err = Console(stderr=True, highlight=False)


def cmd_validate(args: argparse.Namespace) -> int:
    failed = 0
    for path in args.specs:
        try:
            dataset = load_spec(path)
        except SpecError as error:
            failed += 1
            for problem in error.problems:
                err.print(f"[red]{error.source}[/]: {problem}")
            continue
        spec = dataset.spec
        print(f"{path}: valid ({spec.method.value}, targetSize {spec.target_size})")
    return 2 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    from codeinstruct.workers.runner import Runner
    from codeinstruct.workers.spec import Output

    dataset = load_spec(args.spec)
    if args.output:
        output = Output.model_validate({**dataset.spec.output.model_dump(), "uri": args.output})
        dataset = dataset.model_copy(
            update={"spec": dataset.spec.model_copy(update={"output": output})}
        )
    runner = Runner(dataset, console=err, progress=not args.no_progress and err.is_terminal)
    err.print(
        f"[bold]codeinstruct run[/] {dataset.metadata.name}: method {dataset.spec.method.value}, "
        f"output {runner.store.uri(runner.ledger.prefix)}"
    )
    report = runner.run(until=args.until)
    if report.resumed:
        err.print(f"[dim]resumed: {', '.join(report.resumed)} already complete[/]")
    err.print(f"[green bold]done[/]: {report.records} records -> {report.dataset_uri}")
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
    run.set_defaults(handler=cmd_run)

    for target in EXTERNAL_COMMANDS:
        module, function = target.split(":")
        add: Callable[[argparse._SubParsersAction], None] = getattr(import_module(module), function)
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except SpecError as error:
        for problem in error.problems:
            err.print(f"[red]{error.source}[/]: {problem}")
        return 2
    except KeyboardInterrupt:
        err.print("\n[yellow]interrupted[/]: committed shards are kept; rerun to resume")
        return 130
    except UserError as error:
        err.print(f"[red]error[/]: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
