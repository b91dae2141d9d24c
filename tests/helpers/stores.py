"""The behaviour every Store must have, exercised on a given one."""

from __future__ import annotations

import pytest

from codeinstruct.workers.store import Store


def exercise(store: Store) -> None:
    store.put("run/a/one.json", b"1")
    store.put("run/a/two.json", b"2")
    store.put("run/b/three.json", b"3")
    store.put("run/a/one.json", b"uno")
    assert store.get("run/a/one.json") == b"uno"
    assert store.list("run/a/") == ["run/a/one.json", "run/a/two.json"]
    assert store.list("run/") == ["run/a/one.json", "run/a/two.json", "run/b/three.json"]
    assert store.exists("run/b/three.json") and not store.exists("run/b/nope")
    with pytest.raises(KeyError):
        store.get("run/missing")
    store.delete("run/a/two.json")
    assert store.list("run/a/") == ["run/a/one.json"]
