# codeinstruct developer tasks. `make help` lists them.
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install install-dev quickstart test test-unit test-no-gvisor lint bench generate

help: ## list the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

install: ## install runtime dependencies (Debian packages + .venv)
	bash scripts/install.sh

install-dev: ## install runtime + test/lint tools
	bash scripts/install.sh --dev

quickstart: install ## install, then build a small verified SelfCodeAlign dataset on the embedded defaults
	$(BIN)/codeinstruct run examples/quickstart.yaml

test: install-dev ## install, then lint, type-check, check the import layers and run every test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

test-unit: ## the fast unit tests only (under a minute)
	$(BIN)/pytest tests/unit -q

test-no-gvisor: ## every test that does not need runsc (for machines without gVisor)
	$(BIN)/pytest -m "not gvisor"

lint: ## ruff + mypy + import layers
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy && $(BIN)/lint-imports

bench: ## run every benchmark (prints ratios; never a gate)
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

generate: ## regenerate the files generated from the spec models (reference, CRD + chart copy)
	$(BIN)/codeinstruct reference > docs/spec.md
	$(BIN)/codeinstruct stages > docs/stages.md
	$(BIN)/codeinstruct crd -o crds/instructiondatasets.yaml
	cp crds/instructiondatasets.yaml charts/codeinstruct/crds/instructiondatasets.yaml
