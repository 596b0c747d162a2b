# iamreview: `make run` for a demo on embedded defaults, `make test` for the test suite.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && echo $$p && break; done)
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/iamreview
# One pytest worker per core (pytest-xdist); `make test PYTEST_ARGS="tests/accounts -x"` runs in one.
PYTEST_ARGS ?= -n auto

.PHONY: run test install lint format demo worker beat bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON)" || (echo "Python 3.11 or newer is required" >&2; exit 1)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python manage.py migrate --noinput
	PYTHONUNBUFFERED=1 $(BIN)/python manage.py rundemo $(HOST):$(PORT)

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo

test: install
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: install
	$(BIN)/celery -A iamreview worker --loglevel=INFO

beat: install
	$(BIN)/celery -A iamreview beat --loglevel=INFO --schedule=var/celerybeat-schedule

bench: install
	$(BIN)/python bench/collect.py

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache
