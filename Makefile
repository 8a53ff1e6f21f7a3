# The two set-up commands of a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# A run that hangs fails within this many seconds instead of holding CI until its own limit.
TEST_TIMEOUT ?= 900
PYTEST := timeout --kill-after=30 $(TEST_TIMEOUT) $(PY) -m pytest
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
PG_URL ?= postgres://postgres@127.0.0.1:5432/jiedao
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test install browser-deps lint test-sqlite test-postgres migrate demo bench

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*; touch $(STAMP)

install: $(STAMP)

run: install
	DJANGO_DEBUG=1 $(PY) manage.py migrate --noinput -v0
	DJANGO_DEBUG=1 $(PY) manage.py load_demo
	@DJANGO_DEBUG=1 PORT=$(PORT) $(PY) manage.py demo_logins
	@echo "Serving on http://127.0.0.1:$(PORT)"
	DJANGO_DEBUG=1 $(PY) manage.py runserver 127.0.0.1:$(PORT)

# Debian's Chromium and a CJK font for the browser tests (Playwright's own browser download is not used).
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	  else echo "Browser tests need Debian's chromium and fonts-noto-cjk: sudo apt-get install chromium fonts-noto-cjk"; fi; \
	fi

lint: install
	$(VENV)/bin/ruff check jiedao tests conftest.py $(wildcard bench)
	DJANGO_DEBUG=1 $(PY) manage.py makemigrations --check --dry-run -v0
	DJANGO_DEBUG=0 DJANGO_SECRET_KEY=$$(head -c 48 /dev/urandom | base64 | tr -d '\n') \
	  JIEDAO_PII_KEYS="k1:$$(head -c 32 /dev/urandom | base64)" JIEDAO_BLIND_INDEX_KEY=x JIEDAO_AUDIT_KEY=x \
	  DJANGO_ALLOWED_HOSTS=jiedao.example.org $(PY) manage.py check --deploy --fail-level WARNING

test-sqlite: install browser-deps
	$(PYTEST) -q -n 2 --dist loadgroup $(PYTEST_ARGS)

test-postgres: install
	@if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_URL)'.replace('/jiedao','/postgres'), connect_timeout=3)" 2>/dev/null; then \
	  DATABASE_URL=$(PG_URL) $(PYTEST) -q -n 2 --dist loadgroup $(PYTEST_ARGS); \
	elif [ -n "$$JIEDAO_REQUIRE_POSTGRES" ]; then echo "PostgreSQL is required but not reachable at $(PG_URL)"; exit 1; \
	else echo "PostgreSQL not reachable: skipping the PostgreSQL run (set DATABASE_URL or start the server)"; fi

test: lint test-sqlite test-postgres

bench: install
	$(PY) bench/point_in_grid.py
	$(PY) bench/people_import.py
