from __future__ import annotations

import sys
from pathlib import Path

import pytest

from codeinstruct.workers.stages.typecheck import check_batch

# A stand-in checker (a real subprocess) that hangs on any batch holding a "SLOW" file and
# reports an error for each "BAD" file, to exercise the split-and-retry path.
FAKE_CHECKER = """
import sys, time
from pathlib import Path
files = sys.argv[1:]
texts = {f: Path(f).read_text() for f in files}
if any("SLOW" in t for t in texts.values()):
    time.sleep(600)  # only the checker's timeout ends it
for f, t in texts.items():
    if "BAD" in t:
        print(f"{f}:1: error: bad thing  [misc]")
sys.exit(1 if any("BAD" in t for t in texts.values()) else 0)
"""


def test_timeouts_split_the_batch_down_to_the_slow_file(tmp_path: Path) -> None:
    checker = tmp_path / "checker.py"
    checker.write_text(FAKE_CHECKER)
    sources = ["x = 1", "BAD", "y = 2", "SLOW", "z = 3", "BAD again"]
    # The timeout leaves a healthy batch (a Python start-up) seconds to spare on a loaded machine.
    errors = check_batch(sources, timeout=4, command=[sys.executable, str(checker)])
    assert errors == [None, "bad thing  [misc]", None, "timeout", None, "bad thing  [misc]"]


@pytest.mark.slow
def test_real_mypy_finds_type_errors() -> None:
    good = 'def double(x: int) -> int:\n    """Twice x."""\n    return x * 2\n'
    bad = 'def broken(x: int) -> str:\n    """Wrong type."""\n    return x + 1\n'
    untyped = 'def untyped(x):\n    """Sums."""\n    return "a" + 1\n'
    errors = check_batch([good, bad, untyped], timeout=120)
    assert errors[0] is None
    assert errors[1] is not None and "return-value" in errors[1]
    assert errors[2] is not None and "operator" in errors[2]
