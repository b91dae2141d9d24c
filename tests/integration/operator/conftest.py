"""kopf (1.45) can open an aiohttp session after it closed its credentials vault: a timer that
patches the status while the operator shuts down makes a new API context, which nobody closes.
That is kopf's leak, not ours; it surfaces at garbage collection, in whichever test runs then.
So each operator test collects its garbage before it ends, and only there is this one warning
(an unclosed aiohttp session or connector) not an error."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).parent
KOPF_SHUTDOWN_LEAK = [
    "ignore:Exception ignored in. <function ClientSession.__del__"
    ":pytest.PytestUnraisableExceptionWarning",
    "ignore:Exception ignored in. <function BaseConnector.__del__"
    ":pytest.PytestUnraisableExceptionWarning",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            for rule in KOPF_SHUTDOWN_LEAK:
                item.add_marker(pytest.mark.filterwarnings(rule))


@pytest.fixture(autouse=True)
def collect_kopf_leftovers() -> Iterator[None]:
    yield
    gc.collect()
