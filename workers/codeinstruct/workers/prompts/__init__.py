"""Prompts: data files (templates, few-shot examples) next to the pure code that formats them
and parses what the model answered. Every non-.py file here enters the run signature."""
