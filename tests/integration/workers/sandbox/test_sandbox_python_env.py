"""Python with packages: under gVisor, the default sandbox environment runs a numpy/pandas
program; a package outside the list is an `error`; the environment is read-only inside; a
list pip cannot install is a user error naming the field, leaving nothing in the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.sandbox import Job, python_env
from codeinstruct.workers.sandbox.warm_pool import Pool
from codeinstruct.workers.spec import Sandbox

pytestmark = [pytest.mark.slow, pytest.mark.gvisor]

DATA_SCIENCE = """
import numpy as np
import pandas as pd

frame = pd.DataFrame({"x": np.arange(6), "group": list("ababab")})
means = frame.groupby("group")["x"].mean()
assert means.to_dict() == {"a": 2.0, "b": 3.0}, means
assert np.linalg.solve(np.array([[2.0, 0.0], [0.0, 4.0]]), np.array([2.0, 8.0])).tolist() == [1.0, 2.0]
print("ok", int(frame["x"].sum()))
"""
MISSING = "import sklearn\nprint('imported')\n"
WRITE_INTO_ENV = """
import os, numpy
target = os.path.join(os.path.dirname(numpy.__file__), "planted.py")
open(target, "w").write("x = 1")
print("wrote", target)
"""


def test_default_environment_runs_numpy_and_pandas_and_nothing_else() -> None:
    # A generous timeout: importing pandas under gVisor on a loaded 2-core machine is slow.
    settings = Sandbox(timeout_seconds=120, workers=1)
    env = python_env.resolve(settings.python.packages, settings.python.prefix)
    with Pool.from_settings(settings) as pool:
        ok, missing, planted = pool.run(
            [
                Job(id="ds", program=DATA_SCIENCE),
                Job(id="missing", program=MISSING),
                Job(id="planted", program=WRITE_INTO_ENV),
            ]
        )
    assert (ok.verdict, ok.stdout) == ("pass", "ok 15\n"), ok.stderr[-500:]
    assert missing.verdict == "error"
    assert "ModuleNotFoundError: No module named 'sklearn'" in missing.stderr
    assert planted.verdict == "error", planted.stdout
    assert "planted.py" not in {p.name for p in Path(env.site_dirs[0], "numpy").iterdir()}


def test_the_standard_library_only_environment_has_no_numpy() -> None:
    settings = Sandbox(timeout_seconds=60, workers=1, python={"packages": []})
    with Pool.from_settings(settings) as pool:
        (result,) = pool.run([Job(id="ds", program=DATA_SCIENCE)])
    assert result.verdict == "error"
    assert "No module named 'numpy'" in result.stderr


def test_a_list_pip_cannot_install_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"sandbox\.python\.packages: pip could not install"):
        python_env.ensure_packages(["numpy===="], tmp_path)
    assert list(tmp_path.iterdir()) == []
