# Entry points. `make run` starts the whole system; `make test` installs what it needs and runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PACKAGES := contracts runtime services/registry services/routing services/control services/search services/archive
STAMP := $(VENV)/.installed

.PHONY: install run test test-fast lint format schemas bench clean reset

install: $(STAMP)

$(STAMP): Makefile constraints.txt requirements-dev.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt \
		$(foreach p,$(PACKAGES),-e ./$(p)) -r requirements-dev.txt
	touch $(STAMP)

run: install
	$(VENV)/bin/edms stack up

test: install
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

schemas: install
	$(PY) -m edms_contracts.schemas contracts/schemas

bench: install
	$(PY) bench/backbone.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

reset:
	$(VENV)/bin/edms stack down 2>/dev/null || true
	rm -rf .edms
