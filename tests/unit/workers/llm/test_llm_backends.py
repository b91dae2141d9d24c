"""Choosing the LLM backend from the spec, and the errors a user can meet doing so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.llm import LLMClient, batch, embedded, llm_for
from codeinstruct.workers.services import Services
from codeinstruct.workers.spec import Generator
from tests.helpers.stages import stage_services


def services(tmp_path: Path, **generator: Any) -> Services:
    return stage_services(tmp_path, generator=generator)


def test_openai_endpoint_client_with_key_and_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_KEY", "sk-123")
    with services(tmp_path, backend="openai", endpoint="http://h:8000/v1/", model="m",
                  apiKeyEnv="MY_KEY", concurrency=7) as s:  # fmt: skip
        client = llm_for(s)
        assert isinstance(client, LLMClient) and llm_for(s) is client
        assert (client.base_url, client.model, client.concurrency) == ("http://h:8000/v1", "m", 7)
        assert client.native_n and client.cache is not None
        assert client.cache.prefix == "run/cache/llm"
        assert "sk-123" not in repr(client)


def test_missing_key_model_or_endpoint_are_user_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    with (
        services(
            tmp_path, backend="openai", endpoint="http://h/v1", model="m", apiKeyEnv="NOPE"
        ) as s,
        pytest.raises(UserError, match="NOPE"),
    ):
        llm_for(s)
    with (
        services(tmp_path, backend="openai", endpoint="http://h/v1") as s,
        pytest.raises(UserError, match=r"generator\.model"),
    ):
        llm_for(s)
    with (
        services(tmp_path, backend="vllm", model="m") as s,
        pytest.raises(UserError, match=r"generator\.endpoint"),
    ):
        llm_for(s)
    with services(tmp_path, backend="openai", endpoint="http://h/v1", model="m", cache=False) as s:
        assert llm_for(s).cache is None


@pytest.mark.llm
def test_embedded_model_resolution(tmp_path: Path) -> None:
    path = embedded.default_model_path()
    assert path.name == embedded.DEFAULT_MODEL_FILE and path.stat().st_size > 50_000_000
    with pytest.raises(UserError, match=r"generator\.model.*GGUF"):
        embedded.model_path(Generator(model=str(tmp_path / "missing.gguf")))
    own = tmp_path / "own.gguf"
    own.write_bytes(b"GGUF")
    assert embedded.model_path(Generator(model=str(own))) == own
    command = embedded.server_command(own, 1234, Generator(contextTokens=2048))  # type: ignore[call-arg]
    assert command[1:3] == ["-m", "llama_cpp.server"]
    assert command[command.index("--port") + 1] == "1234"
    assert command[command.index("--n_ctx") + 1] == "2048"
    assert command[command.index("--host") + 1] == "127.0.0.1"


def test_embedded_without_llama_cpp_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = embedded.importlib.util.find_spec
    monkeypatch.setattr(
        embedded.importlib.util,
        "find_spec",
        lambda name: None if name == "llama_cpp" else real(name),
    )
    with services(tmp_path) as s, pytest.raises(UserError, match=r"codeinstruct\[llm\]"):
        llm_for(s)


def test_ray_batch_path_is_optional() -> None:
    if batch.available():
        pytest.skip("vllm is installed here")  # the error path only exists without vllm
    with pytest.raises(UserError, match="vllm"):
        batch.generate_batch("m", [[{"role": "user", "content": "x"}]], {})


@pytest.mark.parametrize(("cpus", "threads"), [(1, 1), (2, 1), (3, 1), (4, 2), (16, 8)])
def test_embedded_server_leaves_cores_to_the_rest_of_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cpus: int, threads: int
) -> None:
    """With a llama.cpp thread on every core, one busy core stalls them all (`server_threads`)."""
    monkeypatch.setattr(embedded.os, "sched_getaffinity", lambda pid: set(range(cpus)))
    command = embedded.server_command(tmp_path / "m.gguf", 1234, Generator())
    assert command[command.index("--n_threads") + 1] == str(threads)
    assert command[command.index("--n_threads_batch") + 1] == str(threads)
