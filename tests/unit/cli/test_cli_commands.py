"""Every `codeinstruct` subcommand is registered through the `codeinstruct.commands` entry
points, so the data plane's CLI never names the operator's modules."""

from __future__ import annotations

import argparse
import tomllib
from importlib.metadata import entry_points

from codeinstruct.workers.cli import COMMANDS_GROUP, build_parser
from tests.conftest import REPO


def declared_commands() -> dict[str, str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return dict(pyproject["project"]["entry-points"][COMMANDS_GROUP])


def test_installed_entry_points_are_the_declared_ones() -> None:
    installed = {e.name: e.value for e in entry_points(group=COMMANDS_GROUP)}
    assert installed == declared_commands(), (
        "the installed metadata is stale: reinstall (pip install -e .) to register the commands"
    )


def test_the_parser_has_run_validate_and_every_registered_command() -> None:
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"run", "validate", *declared_commands()} <= set(commands.choices)


def test_the_cli_module_names_no_operator_module() -> None:
    source = (REPO / "workers" / "codeinstruct" / "workers" / "cli.py").read_text()
    assert "codeinstruct.operator" not in source
