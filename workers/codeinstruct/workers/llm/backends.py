"""`llm_for(services)`: the run's one LLM client, for the backend the spec names."""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import TYPE_CHECKING

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.llm.cache import CompletionCache
from codeinstruct.workers.llm.client import LLMClient
from codeinstruct.workers.retry import RetryPolicy
from codeinstruct.workers.spec import Generator, GeneratorBackend

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services

# llama-cpp-python serves one request at a time; one more keeps it busy between requests.
EMBEDDED_CONCURRENCY = 2


def llm_for(services: Services) -> LLMClient:
    """The client of this run, started on first use (embedded server or endpoint)."""
    return services.get("llm", start_llm)


def start_llm(services: Services, stack: ExitStack) -> LLMClient:
    generator = services.spec.generator
    cache = (
        CompletionCache(services.ledger.store, services.ledger.key("cache", "llm"))
        if generator.cache
        else None
    )
    retry = RetryPolicy(generator.max_attempts, generator.backoff_seconds)
    if generator.backend is GeneratorBackend.EMBEDDED:
        from codeinstruct.workers.llm.embedded import start_embedded

        server = start_embedded(generator, stack)
        client = LLMClient(
            server.base_url,
            str(server.model_path),
            concurrency=min(generator.concurrency, EMBEDDED_CONCURRENCY),
            timeout=generator.request_timeout_seconds,
            retry=retry,
            cache=cache,
            native_n=False,
            cache_model=f"embedded:{server.model_path.name}",
        )
        stack.callback(client.close)
        return client
    if not generator.endpoint:
        raise UserError(
            "generator.endpoint: backend `vllm` is deployed by the operator in a cluster; for a "
            "local run set generator.endpoint to the server's URL (e.g. http://host:8000/v1)"
        )
    client = LLMClient(
        generator.endpoint,
        model_name(generator),
        api_key=api_key(generator),
        concurrency=generator.concurrency,
        timeout=generator.request_timeout_seconds,
        retry=retry,
        cache=cache,
        native_n=True,
    )
    stack.callback(client.close)
    return client


def model_name(generator: Generator) -> str:
    if not generator.model:
        raise UserError(
            "generator.model: name the model the endpoint serves (as listed by GET /v1/models)"
        )
    return generator.model


def api_key(generator: Generator) -> str | None:
    if not generator.api_key_env:
        return None
    value = os.environ.get(generator.api_key_env)
    if not value:
        raise UserError(
            f"generator.apiKeyEnv: the environment variable {generator.api_key_env} is not set "
            "(export it with the API key, or remove apiKeyEnv for a server without keys)"
        )
    return value
