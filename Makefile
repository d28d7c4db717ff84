# The two commands a new user needs: `make run` (the server, on a local cluster unless KUBECONFIG
# names a reachable one) and `make test` (lint, unit and integration tests on a real cluster).
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: venv run test lint unit cluster-up cluster-down clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	scripts/run

test: venv
	scripts/test

lint: venv
	$(VENV)/bin/ruff check shim tests cluster
	$(VENV)/bin/ruff format --check shim tests cluster
	$(VENV)/bin/mypy

unit: venv
	$(VENV)/bin/pytest tests/unit -q

cluster-up: venv
	cluster/up

cluster-down:
	cluster/down

clean: cluster-down
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
