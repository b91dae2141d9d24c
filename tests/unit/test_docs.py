from __future__ import annotations

from codeinstruct.workers.spec_reference import spec_reference
from tests.helpers.paths import REPO


def test_spec_reference_is_up_to_date() -> None:
    committed = (REPO / "docs" / "spec.md").read_text()
    assert committed == spec_reference(), "run `make generate` to regenerate docs/spec.md"


def test_readme_set_up_commands_are_what_ci_runs() -> None:
    readme = (REPO / "README.md").read_text()
    assert "make quickstart" in readme and "make test" in readme
    assert "make test" in (REPO / ".ci" / "run").read_text()
