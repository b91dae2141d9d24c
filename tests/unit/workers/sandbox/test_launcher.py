"""The Python of the sandbox is one value: the launcher's `PythonEnv`."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

from codeinstruct.workers.sandbox.box import Launcher, real_interpreter
from codeinstruct.workers.sandbox.python_env import PythonEnv
from codeinstruct.workers.spec import Isolation


def test_default_is_this_interpreter_and_another_brings_its_own_prefix() -> None:
    default = Launcher(Isolation.NONE)
    try:
        assert (default.layout.interpreter, default.layout.prefix) == (
            real_interpreter(),
            os.path.realpath(sys.base_prefix),
        )
    finally:
        default.close()
    other = shutil.which("python3", path="/usr/bin")
    if other is None:
        pytest.fail("Debian's /usr/bin/python3 is part of the machine (scripts/install.sh)")
    chosen = Launcher(Isolation.NONE, PythonEnv(os.path.realpath(other), "/usr", "/usr"))
    try:
        assert chosen.layout.interpreter == os.path.realpath(other)
        assert chosen.layout.prefix == "/usr"
        assert chosen.layout.interpreter in chosen.argv("x")
    finally:
        chosen.close()
