# newswire: `make demo` runs the demo job, `make test` runs the whole suite (starting a local Kafka).
# Needs Python 3.11+, Java 17 and Maven on PATH; everything else is fetched from PyPI and Maven Central.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint unit transforms integration bench install clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/newswire demo --dir demo-lake

test: $(STAMP) lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The layer contracts in pyproject.toml ([tool.importlinter]): no import against the layers, no cycle.
lint: $(STAMP)
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

transforms: $(STAMP)
	$(PY) -m pytest tests/transforms $(PYTEST_ARGS)

integration: $(STAMP)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m bench.batch_overhead

clean:
	rm -rf $(VENV) demo-lake .pytest_cache
