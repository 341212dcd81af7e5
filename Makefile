# The two commands a newcomer needs: `make demo` and `make test`.
# Both create the virtualenv and install what they need on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= test,lint,example
DJANGO ?=
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))
PYTEST_ARGS ?=

.PHONY: help install demo test lint check pytest test-django42 benchmarks clean

help:
	@echo "make demo          run the example site on http://127.0.0.1:8000/"
	@echo "make test          lint, type check, system checks and the whole suite"
	@echo "make test-django42 the suite again on Django 4.2, in .venv-django42"
	@echo "make benchmarks    the benchmarks in benchmarks/ (slow, on demand)"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[$(EXTRAS)]" $(if $(DJANGO),"$(DJANGO)")
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/python manage.py migrate --noinput
	@$(BIN)/python manage.py demo_admin
	@echo
	@echo "Open this link, as if you had clicked a conversion link in an email:"
	@$(BIN)/python manage.py conversion_tracking_landing_url http://127.0.0.1:8000/go/winter-sale/ --random
	@echo
	$(BIN)/python manage.py runserver 127.0.0.1:8000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

check: install
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m django check --fail-level WARNING
	$(BIN)/python manage.py check --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run

# Modules that only PostgreSQL runs count in the report of a PostgreSQL run
# (DATABASE_URL=postgres://...), which .ci/run makes, and not in SQLite's.
POSTGRESQL_ONLY := conversion_tracking/loading_postgres.py,conversion_tracking/loading_sql.py,conversion_tracking/sql_settings.py

pytest: install
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage report $(if $(findstring postgres,$(DATABASE_URL)),,--omit='$(POSTGRESQL_ONLY)')

test: lint check pytest

test-django42:
	$(MAKE) pytest VENV=.venv-django42 EXTRAS=test DJANGO='django>=4.2,<5.0'

benchmarks: install
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[benchmark]"
	$(BIN)/python benchmarks/middleware.py
	$(BIN)/python benchmarks/pixel.py
	$(BIN)/python benchmarks/extract.py

clean:
	rm -rf $(VENV) .venv-django42 .coverage htmlcov .mypy_cache .ruff_cache
