# Two entry points: `make run` (set up, build the index, serve the chat UI) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup llm run test test-fast browser lint bench clean-index

setup: $(VENV)/.installed

# torch is pinned to the CPU build on this machine's disk before anything can pull a CUDA build
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[ui,dev]'
	touch $@

# the 'llm' extra for the generated-answer tests: llama-cpp-python compiles from source (about 6 minutes
# on 2 cores). GGML_NATIVE=OFF gives a portable AVX2 build: the native default picks llama.cpp's AMX
# backend on CPUs that advertise AMX, and that backend dies at the first decode (llama.cpp issue 20824).
# A build installed without the marker below (an older native one) is replaced.
# The portable wheel is built once per machine into a folder named after its flags (pip's own
# cache would not tell a native build from a portable one) and installed from there afterwards.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
LLAMA_VERSION := 0.3.36
LLAMA_WHEELS ?= $(HOME)/.cache/transatlantic-assistant/wheels/llama-cpp-python-$(LLAMA_VERSION)-native-off
llm: $(VENV)/.llm-installed

$(VENV)/.llm-installed: $(VENV)/.installed
	$(BIN)/python -m pip uninstall --quiet --yes llama-cpp-python 2>/dev/null || true
	ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-cache-dir --no-deps \
		--wheel-dir $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION)
	$(BIN)/python -m pip install --quiet --no-cache-dir --find-links $(LLAMA_WHEELS) -e '.[llm]'
	echo "$(LLAMA_CMAKE_ARGS)" > $@

run: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant serve

test: setup llm browser
	$(BIN)/ruff check assistant tests evals
	$(BIN)/ruff format --check assistant tests evals
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"
	$(BIN)/python -m pytest -q -p no:cacheprovider -m slow

# the fast tier alone: no index, no model server, no browser (about 20 s)
test-fast: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

# latency, start-up, builds and memory against the targets and a LangChain baseline (not in `make test`):
# about 15 minutes on two cores; writes docs/bench.md and docs/bench.json
bench: setup
	$(BIN)/assistant ingest
	$(BIN)/assistant bench --out docs

# the UI tests drive Debian's chromium through Playwright (never `playwright install`)
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		(apt-get update && apt-get install -y postgresql)

clean-index:
	rm -rf "$${ASSISTANT_INDEX_DIR:-$${XDG_CACHE_HOME:-$$HOME/.cache}/transatlantic-assistant/index}"
