# JERP PrivateLink kit. Every target is a thin call into Python or Terraform.
# STACK=local (default: LocalStack + the local data plane on this machine) or STACK=aws.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
STACK ?= local
VENV := .venv
PY := $(VENV)/bin/python
HARNESS := $(PY) -m harness
# Test workers: the slow tests mostly wait (Terraform's fixed load-balancer waits, LocalStack and
# Docker start-ups), so independent groups (tests/groups.py) run side by side. 0 = serial.
TEST_WORKERS ?= 3
export STACK

.PHONY: help venv preflight debian-packages-deploy debian-packages-test lint fmt test test-container test-fast deploy plan check destroy status graph exec dev dev-down serve bench wheelhouse harness-image clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade 'pip>=24'
	$(VENV)/bin/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## Create the Python virtualenv (pinned by constraints.txt)

preflight: venv ## Check every prerequisite of deploy (and `make test`: FOR=test), each with its fix
	$(HARNESS) preflight --for $(or $(FOR),deploy)

lint: venv ## ruff, mypy, terraform fmt/validate, checkov
	$(PY) -m harness lint

fmt: venv ## Format Python and Terraform in place
	$(VENV)/bin/ruff format jerp harness tests bench
	$(VENV)/bin/ruff check --fix jerp harness tests bench
	terraform fmt -recursive terraform

# Before the virtualenv exists (stdlib only): as root on Debian/Ubuntu, install the Debian
# packages the command needs, saying which; the harness's preflight then checks the rest.
debian-packages-deploy debian-packages-test: debian-packages-%:
	$(PYTHON) -m harness.preflight --for $* --install

test: debian-packages-test venv ## Preflight, lint, then the whole pytest suite (unit, integration, end-to-end as root)
	$(HARNESS) preflight --for test
	$(PY) -m harness lint
	$(PY) -m harness localstack install
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

# The same suite with every LocalStack the tests start in a container (docker/localstack.Dockerfile's
# image; needs Docker, or root with docker.io). The LocalStack tests then share one engine and
# run one at a time, so it takes longer than `make test`; CI runs both (.github/workflows).
test-container: ## `make test` with LOCALSTACK_MODE=container (LocalStack in Docker)
	LOCALSTACK_MODE=container $(MAKE) test

test-fast: venv ## Unit tests only (no LocalStack, no root)
	$(PY) -m pytest -m 'not integration and not e2e and not docker and not root'

deploy: debian-packages-deploy venv ## Deploy the PrivateLink wiring (STACK=local|aws) and show the outputs
	$(HARNESS) deploy

plan: venv ## Show the Terraform plan for STACK
	$(HARNESS) plan

check: venv ## Run the live checks against the current stack (table + reports/checks.xml)
	$(HARNESS) check

destroy: venv ## Tear the stack down (and, for local, the data plane and LocalStack)
	$(HARNESS) destroy

status: venv ## What is running for the local stack
	$(HARNESS) status

graph: venv ## Draw the deployed topology (reports/topology.svg)
	$(HARNESS) graph

exec: venv ## Run a command on an emulated host: make exec HOST=jerp-consumer-client CMD='curl ...'
	$(HARNESS) exec "$(HOST)" -- $(CMD)

serve: venv ## Run JERP locally on 127.0.0.1:8080
	JERP_HOST=$${JERP_HOST:-127.0.0.1} $(PY) -m jerp

dev: venv ## Local Docker development: two JERP replicas behind HAProxy (docker compose)
	$(HARNESS) dev up

dev-down: venv ## Stop the Docker development setup
	$(HARNESS) dev down

bench: venv ## Benchmarks: JERP vs minimal FastAPI, Starlette, HAProxy, 2 workers; data plane and deploy (root)
	$(PY) -m bench

wheelhouse: venv ## Build the wheelhouse that the Docker image and EC2 user_data install
	$(PY) -m harness.packaging.wheelhouse .harness/wheelhouse

harness-image: venv ## Build the image that runs the whole harness in one privileged container
	$(HARNESS) image build

clean: ## Remove virtualenvs, caches and local state (run make destroy first)
	rm -rf $(VENV) .venv-localstack .mypy_cache .ruff_cache .pytest_cache .hypothesis reports
