# The two commands a new user needs: `make run` (the server, on a local cluster unless KUBECONFIG
# names a reachable one) and `make test` (lint, unit and integration tests on a real cluster,
# about 5 minutes on 2 cores). Whichever runs first builds the local control plane from Go
# modules, about 7 minutes on 2 cores; later starts take seconds.
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: venv run test lint unit cluster-up cluster-down clean bench bench-quick

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: venv
	scripts/run

test: lint
	scripts/test

lint: venv
	$(VENV)/bin/ruff check shim tests cluster bench
	$(VENV)/bin/ruff format --check shim tests cluster bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache --no-logo
	@unformatted=$$(gofmt -l tests/clients/go tests/clients/kind tests/clients/session-manager-plugin tests/clients/containerd) && [ -z "$$unformatted" ] || { echo "gofmt: $$unformatted"; exit 1; }

unit: venv
	$(VENV)/bin/pytest tests/unit -q

cluster-up: venv
	cluster/up

cluster-down:
	cluster/down

clean: cluster-down
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis

# The benchmark (bench/README.md) on a cluster of its own (bench/.cluster), outputs in
# bench/results/. `make bench` is the full run (1,000 nodes, 10,000 tasks, about 10 minutes on
# 2 cores); `make bench-quick`, or `make bench ARGS=--quick`, is CI's smoke test (100 nodes,
# 500 tasks: about a minute of measurements, plus starting and stopping its cluster).
$(VENV)/.bench-installed: $(STAMP) pyproject.toml
	$(VENV)/bin/pip install --quiet -e '.[test,bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(VENV)/bin/python -m bench $(ARGS)

bench-quick:
	$(MAKE) bench ARGS=--quick
