"""Data plane of codeinstruct: stages, storage, LLM client and sandbox. Knows nothing of Kubernetes."""

__version__ = "0.1.0"
