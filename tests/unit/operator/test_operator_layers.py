"""Layering: modules of the operator other than kube.py and handlers.py never reach kopf or the
Kubernetes API (ledger_view does storage I/O, the rest is pure); the workers never import the
operator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

OPERATOR = REPO / "operator" / "codeinstruct" / "operator"
NO_KUBE_IO = [
    *sorted((OPERATOR / "builders").glob("*.py")),
    *(
        OPERATOR / name
        for name in (
            "reconcile.py",
            "observed.py",
            "progress.py",
            "status.py",
            "crd.py",
            "stages.py",
            "constants.py",
            "settings.py",
            "ledger_view.py",
        )
    ),
]
FORBIDDEN = ("kopf", "kubernetes", "codeinstruct.operator.kube", "codeinstruct.operator.handlers")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", NO_KUBE_IO, ids=lambda p: p.name)
def test_modules_do_no_kubernetes_io(path: Path) -> None:
    bad = {n for n in imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)}
    assert not bad, f"{path.name} imports {bad}"


def test_workers_never_import_the_operator() -> None:
    for path in (REPO / "workers").rglob("*.py"):
        found = {n for n in imports(path) if n.startswith("codeinstruct.operator")}
        assert not found, f"{path} imports {found}"
