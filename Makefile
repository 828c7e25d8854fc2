# One-line recipes shared by people and .ci/run. `make run` and `make test` need nothing but a
# Python >= 3.12 somewhere on the machine (scripts/find-python finds it without a pyenv shim).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install run test test-fast lint fmt bench soak soak-ci seed worker

# `make run`, `make seed` and `make worker` run as the product does, DEBUG off (a mistyped URL
# gets the product's 404, not Django's debug page listing every route), signed with a key that
# scripts/local-key generates once into .run/ unless SECRET_KEY or SECRET_KEY_FILE is set: a fresh
# clone needs no configuration. `DEBUG=1 make run` for Django's debug pages. Production sets both.
run seed worker bench: export DEBUG ?= 0
ifeq ($(SECRET_KEY)$(SECRET_KEY_FILE),)
run seed worker bench: export SECRET_KEY_FILE = $(shell scripts/local-key)
endif
# The benchmark times the product as it runs (DEBUG off), with static files from the source tree.
bench: export STATIC_FROM_SOURCE ?= 1
# It times wide scans and VACUUM on purpose: the runtime's statement bound would cut them.
bench: export DB_STATEMENT_TIMEOUT_MS ?= 0
# `make bench` loads N events (10 M by default; `N=300000 make bench` for a quick run) into a
# PostgreSQL database of its own, which it creates: BENCH_DATABASE_URL, or DATABASE_URL.
N ?= 10000000
RUNS ?= 30
# Expanded once, here (`:=`): the bench target's own DATABASE_URL is made from it.
ifeq ($(origin BENCH_DATABASE_URL),undefined)
BENCH_DATABASE_URL := $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/audit_trail_bench)
endif
bench: export DATABASE_URL = $(BENCH_DATABASE_URL)

$(VENV)/.installed: pyproject.toml uv.lock
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9 2>&1 | grep -vi "warn" || true
	@$(VENV)/bin/uv sync --frozen --quiet --python $(PY)
	@touch $@

install: $(VENV)/.installed

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	scripts/serve

test: install
	scripts/ensure-chromium
	scripts/ensure-node
	scripts/ensure-prometheus
	scripts/ensure-pg-auto-failover
	$(PY) -m pytest

test-fast: install
	scripts/ensure-node
	scripts/ensure-prometheus
	$(PY) -m pytest -m "not e2e and not slow and not ha"

# ruff, the import contracts (pyproject.toml) and mypy, whose Django plugin loads the settings.
lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports --no-cache && DEBUG=1 $(VENV)/bin/mypy

fmt: install
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

# The reference benchmark (issue 14): README "Performance". The narrower benchmarks stay as
# commands: bench_ingest, bench_events, bench_seed, bench_download; bench_seal (issue 13) follows it.
bench: install
	$(PY) manage.py bench --events $(N) --runs $(RUNS) && $(PY) manage.py bench_seal

# Mixed load on gunicorn (3 workers) + 2 db_workers + PostgreSQL, then every acknowledged event checked
# stored exactly once, every alert fired (and e-mailed) once, every export day written once
# (DATABASE_URL=postgres://…; the soak drops and creates <its name>_soak). `soak` ~60 s of load,
# `soak-ci` ~15 s. The command only orchestrates (DEBUG=1 spares it a SECRET_KEY); the gunicorn
# and the worker it starts run with DEBUG=0 and a generated key. Summary: .run/soak.json.
soak: install
	DEBUG=1 $(PY) manage.py soak

soak-ci: install
	DEBUG=1 $(PY) manage.py soak --short

seed: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo

worker: install
	$(PY) manage.py db_worker
