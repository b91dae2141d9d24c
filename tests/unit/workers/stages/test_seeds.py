from __future__ import annotations

import ast
import os
from pathlib import Path

from codeinstruct.workers.sources import list_files
from codeinstruct.workers.spec import Mining
from codeinstruct.workers.stages.seeds import decode_source, extract_seeds

GOOD = '''
import math
import os.path as osp
from re import compile


def area(radius):
    """Return the area of a circle with the given radius."""
    return math.pi * radius ** 2


def joined(a, b):
    """Join two path parts with the platform separator."""
    return osp.join(a, b)


def nothing(x):
    """This function returns nothing at all, only prints."""
    print(x)


def returns_none(x):
    """This function only ever returns None explicitly."""
    return None


def nested_only(x):
    """The only valued return belongs to a nested function."""
    def inner():
        return 1
    inner()


def no_args():
    """A function that takes no arguments at all."""
    return 1


def short(x):
    """Tiny."""
    return x


def marked(x):
    """Fix this later: TODO handle negative numbers properly."""
    return x


def debugging(x):
    """Returns a debug representation of the given object."""
    return repr(x)


class Skipped:
    def method(self):
        """Methods are not top-level functions."""
        return 1


def no_docstring(x):
    return x
'''


def test_extraction_and_filters() -> None:
    found = {c.name: c for c in extract_seeds(GOOD, Mining())}
    assert set(found) == {
        "area",
        "joined",
        "nothing",
        "returns_none",
        "nested_only",
        "no_args",
        "short",
        "marked",
        "debugging",
    }
    reasons = {name: c.drop_reason for name, c in found.items()}
    assert reasons == {
        "area": None,
        "joined": "banned_import",
        "nothing": "no_return",
        "returns_none": "no_return",
        "nested_only": "no_return",
        "no_args": "no_arguments",
        "short": "short_docstring",
        "marked": "todo_marker",
        "debugging": None,  # "debug" is not the word "bug"
    }
    assert found["area"].imports == "import math"
    assert found["area"].code.startswith("def area(radius):")
    ast.parse(found["area"].imports + "\n" + found["area"].code)


def test_too_long_and_configurable_bans() -> None:
    body = "\n".join(f"    x += {i}" for i in range(200))
    text = (
        f'def long(x):\n    """A long function with many lines of code."""\n{body}\n    return x\n'
    )
    assert extract_seeds(text, Mining())[0].drop_reason == "too_long"
    assert extract_seeds(GOOD, Mining(banned_imports=["math"]))[0].drop_reason == "banned_import"


def test_decode_rejects_bad_bytes() -> None:
    assert decode_source(b"\x00\x01binary", 100) == (None, "binary_file")
    assert decode_source(b"caf\xe9 = 1", 100) == (None, "not_utf8")
    assert decode_source(b"   \n", 100) == (None, "empty_file")
    assert decode_source(b"x = 1" * 100, 10) == (None, "file_too_large")
    assert decode_source(b"x = 1", 100) == ("x = 1", None)


def test_listing_skips_symlink_loops_and_sorts(tmp_path: Path) -> None:
    (tmp_path / "b.py").write_text("x = 1")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.py").write_text("y = 2")
    (tmp_path / "notes.txt").write_text("no")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    files = list_files(str(tmp_path), (".py",))
    assert files == [str(tmp_path / "b.py"), str(tmp_path / "sub" / "a.py")]
    assert list_files(str(tmp_path / "**" / "a.py"), (".py",)) == [str(tmp_path / "sub" / "a.py")]
