# The two commands the README opens with: `make quickstart` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: quickstart test test-fast test-deps bench lint clean

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
	$(PY) -m pip install --quiet -e '.[test,tf,ray]'
	touch $@

test-deps: $(VENV)/.test-installed

quickstart: $(VENV)/.installed
	$(PY) examples/quickstart/quickstart.py

test: $(VENV)/.test-installed
	TRAINFORGE_REQUIRE_SERVICES=1 $(PY) -m pytest -q

test-fast: $(VENV)/.test-installed
	TRAINFORGE_REQUIRE_SERVICES=1 $(PY) -m pytest -q -m "not slow"

bench: $(VENV)/.installed
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) bench/run_all.py

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
