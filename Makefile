# gitops.core: every entry point a person or CI needs.  `make test` and `make demo` set up
# everything themselves (virtualenvs, the control-plane build, the cluster).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
COMPAT_VENV ?= .venv-compat
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv venv-compat collection cluster-build cluster-up cluster-down cluster-status \
	    unit sanity lint integration compat test demo build changelog clean java docs bench-soak

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

venv: ## .venv on Python 3.13 with the runtime and pinned test requirements
	@hack/mkvenv $(VENV) 3.13 requirements.txt test-requirements.txt

venv-compat: ## .venv-compat on Python 3.11 with the oldest supported ansible-core
	@hack/mkvenv $(COMPAT_VENV) 3.11 tests/compat-requirements.txt

docs: collection ## the documentation site (antsibull-docs + Sphinx) in .build/docs/build/html
	@hack/docs

java: ## a Java 17 runtime for ansible-rulebook (installs Debian's openjdk-17-jre-headless when missing)
	@hack/ensure-java

collection: ## make the checkout importable as ansible_collections.gitops.core
	@mkdir -p .collections/ansible_collections/gitops
	@ln -sfn $(CURDIR) .collections/ansible_collections/gitops/core

cluster-build: ## compile the control plane into the cache (KUBE_VERSION=1.34 for another minor)
	@python3 tests/cluster/cluster.py build

cluster-up: ## start the local control plane; writes .cluster/kubeconfig
	@python3 tests/cluster/cluster.py up

cluster-down: ## stop the local control plane and remove .cluster/
	@python3 tests/cluster/cluster.py down

cluster-status: ## version, ports and memory of the running control plane
	@python3 tests/cluster/cluster.py status

unit: venv collection ## unit tests (no cluster)
	$(VENV)/bin/pytest -q tests/unit

sanity: venv ## ansible-test sanity on a copy laid out as ansible_collections/gitops/core
	@hack/sanity

lint: venv collection ## ansible-lint (production profile)
	hack/lint

integration: venv collection cluster-up ## integration tests against the running control plane
	$(VENV)/bin/pytest -q -n 4 --dist loadgroup tests/integration

molecule: venv collection cluster-up ## Molecule scenarios (the sync role: converge, idempotence, verify)
	@hack/molecule

compat: venv-compat collection ## unit tests and a smoke test on the oldest supported ansible-core
	@hack/compat

test: ## everything on the newest ansible-core: unit, sanity, lint, molecule, integration (starts and stops the cluster)
	@hack/test

demo: venv collection ## run the main GitOps job against the local control plane
	@hack/demo

bench: venv collection cluster-up ## benchmarks beside kubectl and kubernetes.core (BENCH_SHORT=1: a quick look; BENCH_N="1000 5000": sizes)
	@for n in $${BENCH_N:-$$([ -n "$$BENCH_SHORT" ] && echo 1000 || echo 1000 10000)}; do \
	  $(VENV)/bin/python bench/bench_git_desired_state.py $$n || exit 1; done
	$(VENV)/bin/python bench/bench_helm.py
	$(VENV)/bin/python bench/bench_reconcile.py $${BENCH_N:-}
	$(VENV)/bin/python bench/bench_tenant.py
	$(VENV)/bin/python bench/bench_sets.py $$([ -n "$$BENCH_SHORT" ] && echo 20 || echo 20 200)
	$(VENV)/bin/python bench/bench_charts.py $$([ -n "$$BENCH_SHORT" ] && echo 20 || echo 100)
	$(VENV)/bin/python bench/bench_sops.py
	$(VENV)/bin/python bench/bench_eda.py
	@[ -n "$$BENCH_SHORT" ] || $(VENV)/bin/python bench/bench_eda_soak.py

bench-soak: venv collection cluster-up ## the agent's soak: 10,000 watched objects, API server killed every 2 min for 10 min
	$(VENV)/bin/python bench/bench_eda_soak.py

build: venv ## build the collection tarball
	$(VENV)/bin/ansible-galaxy collection build --force --output-path .build/

changelog: venv ## lint the changelog fragments
	$(VENV)/bin/antsibull-changelog lint

clean: cluster-down
	rm -rf .build .collections tests/output .pytest_cache
