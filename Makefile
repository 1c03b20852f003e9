# Two entry points: `make run` (set up, build the index, start the assistant) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup run test lint bench clean-index

setup: $(VENV)/.installed

# torch is pinned to the CPU build on this machine's disk before anything can pull a CUDA build
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant chat

test: setup
	$(BIN)/ruff check assistant tests evals
	$(BIN)/ruff format --check assistant tests evals
	$(BIN)/python -m pytest -q -p no:cacheprovider

clean-index:
	rm -rf "$${ASSISTANT_INDEX_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/transatlantic-assistant/index}"
