"""`llm_for(services, role)`: the run's LLM client for a role, for the backend its model names.
A role without a model of its own shares the generator's client."""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import TYPE_CHECKING

from codeinstruct.workers.errors import UserError
from codeinstruct.workers.llm.cache import CompletionCache
from codeinstruct.workers.llm.client import LLMClient
from codeinstruct.workers.llm.roles import ROLE_FIELDS, Role, own_model
from codeinstruct.workers.retry import RetryPolicy
from codeinstruct.workers.spec import Generator, GeneratorBackend

if TYPE_CHECKING:
    from codeinstruct.workers.services import Services

# llama-cpp-python serves one request at a time; one more keeps it busy between requests.
EMBEDDED_CONCURRENCY = 2


def llm_for(services: Services, role: Role = "generator") -> LLMClient:
    """The client of `role` in this run, started on first use (embedded server or endpoint):
    the service `llm` for the generator and every role without a model of its own, else
    `llm:<role>`."""
    config = own_model(services.spec, role)
    if config is None:
        return services.get("llm", start_llm)
    return services.get(
        f"llm:{role}", lambda s, stack: start_client(s, stack, config, ROLE_FIELDS[role], role)
    )


def start_llm(services: Services, stack: ExitStack) -> LLMClient:
    return start_client(services, stack, services.spec.generator, "generator", None)


def start_client(
    services: Services, stack: ExitStack, generator: Generator, field: str, role: Role | None
) -> LLMClient:
    """A client for `generator` (the spec's own, or a role's model set at `field`). A role's
    completions are cached under its endpoint and model, apart from the generator's."""
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
            gone=server.death,
        )
        stack.callback(client.close)
        return client
    if not generator.endpoint:
        raise UserError(
            f"{field}.endpoint: backend `vllm` is deployed by the operator in a cluster; for a "
            f"local run set {field}.endpoint to the server's URL (e.g. http://host:8000/v1)"
        )
    model = model_name(generator, field)
    client = LLMClient(
        generator.endpoint,
        model,
        api_key=api_key(generator, field),
        concurrency=generator.concurrency,
        timeout=generator.request_timeout_seconds,
        retry=retry,
        cache=cache,
        native_n=True,
        cache_model=None if role is None else f"{role}:{generator.endpoint}:{model}",
    )
    stack.callback(client.close)
    return client


def model_name(generator: Generator, field: str = "generator") -> str:
    if not generator.model:
        raise UserError(
            f"{field}.model: name the model the endpoint serves (as listed by GET /v1/models)"
        )
    return generator.model


def api_key(generator: Generator, field: str = "generator") -> str | None:
    if not generator.api_key_env:
        return None
    value = os.environ.get(generator.api_key_env)
    if not value:
        raise UserError(
            f"{field}.apiKeyEnv: the environment variable {generator.api_key_env} is not set "
            "(export it with the API key, or remove apiKeyEnv for a server without keys)"
        )
    return value
