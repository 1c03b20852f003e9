# Two entry points: `make run` (set up, build the index, serve the chat UI) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup llm run test browser lint bench clean-index

setup: $(VENV)/.installed

# torch is pinned to the CPU build on this machine's disk before anything can pull a CUDA build
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[ui,dev]'
	touch $@

# the 'llm' extra for the generated-answer tests: llama-cpp-python compiles (about 5 minutes on 2 cores)
llm: $(VENV)/.llm-installed

$(VENV)/.llm-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[llm]'
	touch $@

run: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant serve

test: setup llm browser
	$(BIN)/ruff check assistant tests evals
	$(BIN)/ruff format --check assistant tests evals
	$(BIN)/python -m pytest -q -p no:cacheprovider

# latency, start-up, builds and memory against the targets and a LangChain baseline (not in `make test`):
# about 15 minutes on two cores; writes docs/bench.md and docs/bench.json
bench: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant bench

# the UI tests drive Debian's chromium through Playwright (never `playwright install`)
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

clean-index:
	rm -rf "$${ASSISTANT_INDEX_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/transatlantic-assistant/index}"
