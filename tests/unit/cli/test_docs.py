"""The docs say what is true: the generated spec reference is current, and every command the
README shows is a Makefile target or a `codeinstruct` command line the CLI accepts."""

from __future__ import annotations

import re
import shlex

import pytest

from codeinstruct.workers.cli import build_parser
from codeinstruct.workers.spec_reference import spec_reference
from tests.helpers.paths import REPO


def test_spec_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "spec.md").read_text()
    assert committed == spec_reference(), "run `make generate` to regenerate docs/spec.md"


def readme_commands() -> list[str]:
    """The command lines in the README's ```bash blocks, without their comments."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"^```bash\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    lines = (line.split("#", 1)[0].strip() for block in blocks for line in block.splitlines())
    return [line for line in lines if line]


def makefile_targets() -> set[str]:
    makefile = (REPO / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))


def test_the_readme_shows_commands() -> None:
    commands = readme_commands()
    assert any(c.startswith("make ") for c in commands)
    assert any(c.startswith("codeinstruct ") for c in commands)


@pytest.mark.parametrize("command", readme_commands())
def test_each_readme_command_exists(command: str) -> None:
    program, *args = shlex.split(command)
    if program == "make":
        assert set(args) <= makefile_targets(), f"{command!r}: no such Makefile target"
        return
    assert program == "codeinstruct", f"{command!r}: not a make or codeinstruct command"
    try:
        build_parser().parse_args(args)
    except SystemExit:
        pytest.fail(f"{command!r}: the CLI does not accept it")
    for arg in args:
        if arg.startswith("examples/"):
            assert (REPO / arg).is_file(), f"{command!r}: {arg} does not exist"


def test_ci_runs_what_the_readme_calls_the_tests() -> None:
    assert "make test" in readme_commands()
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.MULTILINE), ".ci/run must run `make test`"
