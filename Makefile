# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app portal
CATALOGUES := $(wildcard portal/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGUES:.po=.mo)

.PHONY: run test lint fmt install translations extract migrate seed bench serve worker backup audit

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet --upgrade pip setuptools
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed translations

%.mo: %.po $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(VENV)/.installed $(COMPILED)

extract: $(VENV)/.installed
	$(BIN)/pybabel extract --no-location --sort-output -F portal/translations/babel.cfg -k _l -k lazy_gettext -o portal/translations/messages.pot .
	$(BIN)/pybabel update --no-fuzzy-matching -i portal/translations/messages.pot -d portal/translations

migrate: install
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) seed-reference
	$(FLASK) seed-demo

run: seed
	$(FLASK) run --host 127.0.0.1 --port 5000

# Benchmarks: planning 10,000 applications × 500 evaluators, ranking 30,000 reviews,
# 2,000 enrolments at once over HTTP (gunicorn on PostgreSQL), and the national-scale pages
# and deadline rush over HTTP (bench/national.py). BENCHMARKS="bench.national" runs only some;
# BENCH_QUICK=1 is a short run that writes nothing. Results: bench/results.json and .md.
# BENCH_DATABASE_URL=postgresql+psycopg://... measures on PostgreSQL instead of SQLite.
bench: install
	$(BIN)/python -m bench.run $(BENCHMARKS)

serve: install
	$(BIN)/gunicorn --workers $${WORKERS:-4} --bind $${BIND:-127.0.0.1:8000} 'portal:create_app()'

# The mail worker: delivers the e-mail outbox over SMTP, with retries, every INTERVAL seconds.
worker: install
	$(FLASK) send-mail --loop --interval $${INTERVAL:-10}

# One archive of the database and the uploaded files in BACKUP_DIR (default instance/backups).
backup: install
	$(FLASK) backup create $${BACKUP_DIR:-instance/backups}

test: install
	$(BIN)/pytest -n auto $(PYTEST_ARGS)

# Known vulnerabilities in the installed packages, from PyPI's advisories (tools/audit.py says
# why not pip-audit): fails on one, and when the registry cannot be read.
audit: install
	$(BIN)/python -m tools.audit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
