"""The LLM side of a run: an OpenAI-compatible client, the embedded llama.cpp server, a cache."""

from codeinstruct.workers.llm.backends import llm_for
from codeinstruct.workers.llm.client import Completion, InfraFailure, LLMClient, LLMResult

__all__ = ["Completion", "InfraFailure", "LLMClient", "LLMResult", "llm_for"]
