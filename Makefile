# The two commands the README opens with: `make quickstart` and `make test`; `make check`
# runs the linters, the type checker and the layer contracts (CI runs it too).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Two pytest workers, each test file on one of them (its module fixtures, such as a Ray
# cluster or Azurite, start once): most real-process tests wait on processes, so two
# workers finish sooner even on 2 cores (docs/testing.md has the figures).
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

.PHONY: quickstart test test-fast test-inprocess test-deps bench lint check clean

# The quickstart needs trainforge and what its example imports (the quickstart extra).
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[quickstart]'
	touch $@

# The suite needs every extra that has tests behind it (tensorflow-cpu and Ray included),
# Open MPI, PostgreSQL and Azurite; with TRAINFORGE_REQUIRE_SERVICES=1 anything missing
# fails its tests instead of skipping them.
$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml tools/install-test-deps.sh
	tools/install-test-deps.sh
	$(PY) -m pip install --quiet -e '.[test,tf,ray,automl,onnx]'
	touch $@

test-deps: $(VENV)/.test-installed

quickstart: $(VENV)/.installed
	$(PY) examples/quickstart/quickstart.py

test: $(VENV)/.test-installed
	TRAINFORGE_REQUIRE_SERVICES=1 $(PYTEST)

test-fast: $(VENV)/.test-installed
	TRAINFORGE_REQUIRE_SERVICES=1 $(PYTEST) -m "not slow"

# The tests that start no process (TestClient, CliRunner, a recording backend); what only
# real processes prove is marked real_process and left out.
test-inprocess: $(VENV)/.test-installed
	TRAINFORGE_REQUIRE_SERVICES=1 $(PY) -m pytest -q -m "not real_process"

bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) bench/run_all.py

# The dev extra: ruff, mypy, import-linter and the typed libraries mypy reads.
$(VENV)/.dev-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .

# mypy (strict on schemas, client, server, compute; pyproject [tool.mypy]), ruff and the
# layers of DESIGN.md (.importlinter).
check: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
