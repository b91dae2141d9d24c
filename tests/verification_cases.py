"""Samples that must be rejected (tricks that passed the old exit-status check) and honest ones
that must be verified: shared by the `codeinstruct verify` and execute-stage tests.

Each case is (name, solution code, test code, what it must come out as: a drop reason, or None
for verified). Every wrong solution is the same wrong `add` (it subtracts).
"""

from __future__ import annotations

WRONG = "def add(a, b):\n    return a - b\n"
GOOD = "def add(a, b):\n    return a + b\n"

ADVERSARIAL: list[tuple[str, str, str, str]] = [
    ("plain_wrong", WRONG, "assert add(2, 3) == 5\n", "check_failed"),
    (
        "test_function_never_called",
        WRONG,
        "def test_add():\n    assert add(2, 3) == 5\n",
        "check_failed",
    ),
    (
        "testcase_without_runner",
        WRONG,
        "import unittest\n\nclass TestAdd(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n",
        "check_failed",
    ),
    ("if_false", WRONG, "if False:\n    assert add(2, 3) == 5\n", "no_checks"),
    (
        "swallowed_assertion",
        WRONG,
        "try:\n    assert add(2, 3) == 5\nexcept AssertionError:\n    pass\n",
        "check_failed",
    ),
    (
        "solution_exits_first",
        WRONG + "import sys\nsys.exit(0)\n",
        "assert add(2, 3) == 5\n",
        "no_checks",
    ),
    (
        "os_exit_in_atexit",
        WRONG,
        "import atexit, os\natexit.register(lambda: os._exit(0))\nassert add(2, 3) == 5\n",
        "check_failed",
    ),
    (
        "excepthook_and_os_exit",
        WRONG,
        "import os, sys\nsys.excepthook = lambda *a: os._exit(0)\nassert add(2, 3) == 5\n",
        "check_failed",
    ),
    (
        "os_exit_before_the_failing_assert",
        WRONG,
        "assert add(0, 0) == 0\nimport os\nos._exit(0)\nassert add(2, 3) == 5\n",
        "exited_early",
    ),
    (
        "sys_exit_before_the_failing_assert",
        WRONG,
        "assert add(0, 0) == 0\nimport sys\nsys.exit(0)\nassert add(2, 3) == 5\n",
        "checks_skipped",
    ),
    (
        "assert_in_a_thread",
        WRONG,
        "import threading\n\ndef check():\n    assert add(2, 3) == 5\n\n"
        "worker = threading.Thread(target=check)\nworker.start()\nworker.join()\n",
        "check_failed",
    ),
    (
        "tautologies",
        WRONG,
        "add(2, 3)\nassert True\nassert 1 == 1\nx = 5\nassert x == x\n",
        "no_checks",
    ),
    (
        "tests_redefine_the_solution",
        WRONG,
        "def add(a, b):\n    return a + b\n\nassert add(2, 3) == 5\n",
        "solution_not_called",
    ),
    (
        "stub_whose_exception_the_tests_expect",
        "def add(a, b):\n    raise NotImplementedError\n",
        "try:\n    add(2, 3)\n    assert False\nexcept NotImplementedError:\n    pass\n",
        "vacuous_tests",
    ),
    (
        "tests_that_accept_anything",
        WRONG,
        "try:\n    result = add(2, 3)\nexcept Exception:\n    result = None\n"
        "assert result is None or result is not None\n",
        "vacuous_tests",
    ),
    (
        "printed_fake_markers",
        WRONG,
        "print('Test case 1: True')  # assert\nprint('E 0 5 0 0 0')\n",
        "no_checks",
    ),
    (
        "forged_channel_lines",
        WRONG,
        "import os\nassert add(0, 0) == 0\nos.write(1000, b'0000000000000000 E 0 9 0 0 0\\n')\n"
        "assert add(2, 3) == 5\n",
        "check_failed",
    ),
    (
        "forged_channel_only",
        WRONG,
        "import os\nassert add(0, 0) == 0\nos.write(1000, b'0000000000000000 P 1\\n')\n",
        "channel_tampered",
    ),
    (
        "closed_channel",
        WRONG,
        "import os\nassert add(0, 0) == 0\nos.closerange(3, 2000)\ntry:\n"
        "    assert add(2, 3) == 5\nexcept AssertionError:\n    pass\n",
        "exited_early",
    ),
    (
        "redefined_recorder_names",
        WRONG,
        "import builtins\nfor name in list(vars(builtins)):\n    if 'codeinstruct' in name:\n"
        "        setattr(builtins, name, lambda *a: True)\nassert add(2, 3) == 5\n",
        "check_failed",
    ),
]

# Tests that tell their first run (the original's) from a later one (its null variant's): on
# a later run they assert for real (the null variant fails them), on the first they accept
# anything (the wrong solution passes). Each must come out `vacuous_tests` (every run looks like
# the first) or fail (every run looks like a later one), never verified.
_ACCEPT_ANYTHING = (
    "    try:\n        result = add(2, 3)\n    except Exception:\n        result = None\n"
    "    assert result is None or result is not None\n"
)


def _strict_when(condition: str, setup: str, first_run_marks: str = "") -> str:
    return (
        f"{setup}if {condition}:\n    assert add(2, 3) == 5\nelse:\n{_ACCEPT_ANYTHING}"
        f"{first_run_marks}"
    )


def _marker_file(path: str) -> str:
    mark = f"    with contextlib.suppress(OSError):\n        open({path!r}, 'w').close()\n"
    return _strict_when(f"os.path.exists({path!r})", "import contextlib, os\n", mark)


CROSS_RUN: list[tuple[str, str, str, str]] = [
    ("marker_file_in_the_cwd", WRONG, _marker_file("seen"), "vacuous_tests"),
    ("marker_file_in_tmp", WRONG, _marker_file("/tmp/codeinstruct-seen"), "vacuous_tests"),
    ("marker_file_in_dev_shm", WRONG, _marker_file("/dev/shm/codeinstruct-seen"), "vacuous_tests"),
    (
        "marker_in_a_module",
        WRONG,
        _strict_when("hasattr(os, 'seen')", "import os\n", "    os.seen = True\n"),
        "vacuous_tests",
    ),
    (
        "marker_in_builtins",
        WRONG,
        _strict_when("hasattr(builtins, 'seen')", "import builtins\n", "    builtins.seen = 1\n"),
        "vacuous_tests",
    ),
    (
        "pid_follows_its_parents",
        WRONG,
        _strict_when("os.getpid() != os.getppid() + 1", "import os\n"),
        "check_failed",
    ),
    (
        "first_process_the_sandbox_started",
        WRONG,
        _strict_when("os.getpid() != 2", "import os\n"),
        "check_failed",
    ),
    (
        "lowest_pid_but_the_supervisors",
        WRONG,
        _strict_when(
            "os.getpid() != min(int(p) for p in os.listdir('/proc') if p.isdigit() and p != '1')",
            "import os\n",
        ),
        "vacuous_tests",
    ),
]

ADVERSARIAL += CROSS_RUN

HONEST: list[tuple[str, str, str, None]] = [
    ("top_level_asserts", GOOD, "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n", None),
    (
        "called_test_function",
        GOOD,
        "def test_add():\n    assert add(2, 3) == 5\n\ntest_add()\n",
        None,
    ),
    (
        "unittest_with_runner",
        GOOD,
        "import unittest\n\nclass TestAdd(unittest.TestCase):\n"
        "    def test_add(self):\n        self.assertEqual(add(2, 3), 5)\n\n"
        "if __name__ == '__main__':\n    unittest.main()\n",
        None,
    ),
    (
        "error_path",
        "def parse_age(text):\n    value = int(text)\n    if value < 0:\n"
        "        raise ValueError('negative age')\n    return value\n",
        "assert parse_age('7') == 7\ntry:\n    parse_age('-1')\n    assert False, 'no error'\n"
        "except ValueError:\n    pass\n",
        None,
    ),
    (
        "a_class",
        "class Stack:\n    def __init__(self):\n        self.items = []\n\n"
        "    def push(self, item):\n        self.items.append(item)\n\n"
        "    def pop(self):\n        return self.items.pop()\n",
        "s = Stack()\ns.push(1)\ns.push(2)\nassert s.pop() == 2\nassert s.items == [1]\n",
        None,
    ),
    (
        "mutates_its_argument",
        "def bump_all(values):\n    for i in range(len(values)):\n        values[i] += 1\n",
        "data = [1, 2]\nbump_all(data)\nassert data == [2, 3]\n",
        None,
    ),
    (
        "uncalled_test_function_collected",
        GOOD,
        "def test_add():\n    assert add(2, 3) == 5\n",
        None,
    ),
]


def fenced(code: str) -> str:
    return f"Here is the code.\n\n```python\n{code}```\n"
