# nb2svc: the two commands in the README are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export CONTAINERS_CONF := $(CURDIR)/containers/containers.conf
export UV_SYSTEM_CERTS := 1

.PHONY: setup lint typecheck test test-fast demo base bench clean s2i-builder cluster

setup:
	@bash scripts/setup.sh

lint: setup
	$(VENV)/bin/ruff check builder runtimes tests benchmarks
	$(VENV)/bin/ruff format --check builder runtimes tests benchmarks

typecheck: setup
	$(VENV)/bin/mypy

# Local base image built from Debian packages (no registry needed).
base: setup
	$(VENV)/bin/nb2svc base

# Every test, slow end-to-end builds included. pytest exit 5 (nothing collected) is a failure here.
test: setup lint typecheck
	@$(VENV)/bin/python -m pytest -q --timeout=1800 --durations=15 tests; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

test-fast: setup
	$(VENV)/bin/python -m pytest -q -m "not slow" tests

# The main job: build the sample churn notebook into a served model and show a prediction.
demo: setup
	bash scripts/demo.sh

# The S2I builder image (localhost/nb2svc/s2i-python:3.11), built with buildah; see docs/s2i.md.
s2i-builder: setup
	$(PY) -m nb2svc.s2i.image

# A real control plane on 127.0.0.1 (tests/cluster_support.py): prints KUBECONFIG; Ctrl-C stops it.
cluster: setup
	$(PY) tests/cluster_support.py

bench: setup
	$(PY) benchmarks/deps/bench_deps.py
	$(PY) benchmarks/build/bench_build.py
	$(PY) benchmarks/serving/bench.py
	$(PY) benchmarks/corpus/run.py

clean:
	rm -rf nb2svc-out .pytest_cache .mypy_cache .ruff_cache
