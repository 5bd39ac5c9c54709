# The README's two commands. Both work in a fresh clone with only Python 3.11+ and make.

# The newest Python 3.11+ that actually runs. pyenv puts a shim for every version it knows on PATH,
# and a shim for a version that is not selected fails when run, so a candidate counts only if it
# runs; its errors are hidden. Resolved once, to the interpreter's real path (override: PYTHON=...).
ifndef PYTHON
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.version_info >= (3, 11) or sys.exit(1); print(sys.executable)' 2>/dev/null \
	&& break; done)
endif
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps re-run the install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

demo: $(VENV)/.installed
	$(BIN)/interlock dev --traffic-rps 1 --demo-rollouts --demo-experiments

# Two pytest processes, each with its own Temporal dev server and gateway, a test file to each
# at a time (module fixtures stay in one process): half the wall time of one process on 2 cores.
TEST_WORKERS ?= 2
test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Interlock's PII scanner against Microsoft Presidio. Presidio and the spaCy small model come from
# the benchmark-only `bench` extra, never from the runtime dependencies.
.PHONY: bench-pii
bench-pii: | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python -m benchmarks.pii --json .interlock/bench-pii.json

# The AWS CDK app (deploy/aws/README.md): all four stacks' templates into deploy/aws/cdk.out/.
# Synthesis only, no AWS credentials needed; deploying is the cdk CLI's job.
.PHONY: cdk-synth
cdk-synth: $(VENV)/.installed-test
	cd deploy/aws && CDK_OUTDIR=cdk.out $(abspath $(BIN))/python app.py

# The reliability suite (docs/reliability.md): each scenario starts its own stack, injects its
# faults and prints its figures; exit 1 if a property failed. Short mode; LONG=1 for full sizes.
.PHONY: reliability
reliability: $(VENV)/.installed-test
	$(BIN)/python -m benchmarks.reliability $(if $(LONG),--long)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .interlock .pytest_cache .ruff_cache *.egg-info
