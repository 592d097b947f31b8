# InfraPrism: `make run` serves the API, `make test` runs lint and the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8000
# Tests run against real PostgreSQL and Redis (local servers unless these are set).
TEST_DATABASE_URL ?= $(or $(DATABASE_URL),postgres://postgres@127.0.0.1:5432/infraprism)
TEST_REDIS_URL ?= $(or $(REDIS_URL),redis://127.0.0.1:6379/15)

.PHONY: run worker test lint fmt bench soak migrate clean sdk-test

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Test and lint tools on top of the runtime pins (make run needs only requirements.txt).
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

# Server settings (workers, threads, log format) live in gunicorn.conf.py, shared with
# docker-compose and the tests.
run: migrate
	$(PY) manage.py ensure_demo --port $(PORT)
	$(PY) -m gunicorn -c gunicorn.conf.py --bind $(HOST):$(PORT)

worker: $(STAMP)
	$(VENV)/bin/celery -A infraprism worker --beat --loglevel INFO --concurrency 2 \
		--schedule var/celerybeat-schedule

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

fmt: $(DEV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

test: lint
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(VENV)/bin/pytest -p no:cacheprovider $(PYTEST_ARGS)
	$(MAKE) sdk-test

# The Python SDK (sdk/python) is its own distribution, also named `infraprism`: it is built,
# linted and tested in its own venv from inside sdk/python, so the server's package is never on
# its path. Its live tests start gunicorn and a Celery worker (with beat) from the server's
# venv, on their own database (dropped and re-created) and Redis db.
SDK_DIR := sdk/python
SDK_VENV := $(SDK_DIR)/.venv
SDK_STAMP := $(SDK_VENV)/.installed
SDK_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/infraprism_sdk_test
SDK_TEST_REDIS_URL ?= redis://127.0.0.1:6379/12

$(SDK_STAMP): $(SDK_DIR)/pyproject.toml
	test -x $(SDK_VENV)/bin/python || $(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SDK_VENV)/bin/python -m pip install --quiet -e './$(SDK_DIR)[test]'
	touch $(SDK_STAMP)

sdk-test: $(SDK_STAMP) $(DEV_STAMP)
	cd $(SDK_DIR) && .venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy
	cd $(SDK_DIR) && INFRAPRISM_SERVER_DIR=$(CURDIR) INFRAPRISM_SERVER_VENV=$(CURDIR)/$(VENV) \
		INFRAPRISM_SDK_TEST_DATABASE_URL=$(SDK_TEST_DATABASE_URL) \
		INFRAPRISM_SDK_TEST_REDIS_URL=$(SDK_TEST_REDIS_URL) \
		.venv/bin/pytest -p no:cacheprovider $(SDK_PYTEST_ARGS)

bench: $(DEV_STAMP) $(SDK_STAMP)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) bench/run_all.py

soak: $(DEV_STAMP)
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
		$(VENV)/bin/pytest -p no:cacheprovider -m soak tests/reliability

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
