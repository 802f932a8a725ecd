# NELMAS EDC. Two commands do all set-up on a fresh Debian 12 machine:
#   make demo   - the EDC with demo data on http://127.0.0.1:8000 (SQLite, tasks in-process, console e-mail)
#   make test   - the whole test suite (uses DATABASE_URL / REDIS_URL when set; see .ci/run)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Debian libraries: WeasyPrint (PDF) and poppler (PDF to text/images in tests); Chromium for browser tests.
PDF_DEBS := libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils
BROWSER_DEBS := chromium libatomic1
COMPOSE_DEBS := docker-compose

.PHONY: demo test validation-report bench lint venv sysdeps browserdeps compose-check clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

sysdeps:
	scripts/sysdeps.sh $(PDF_DEBS)

browserdeps:
	scripts/sysdeps.sh $(BROWSER_DEBS)

demo: venv sysdeps
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py seed_demo
	@echo "Serving the NELMAS EDC at http://127.0.0.1:8000 (Ctrl-C to stop)"
	$(PY) manage.py runserver 127.0.0.1:8000

# The suite runs against the real services (PostgreSQL, Redis) on this machine unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/nelmas
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# Two pytest-xdist workers, one per core of the 2-core machine: each has its own test database
# (test_<name>_gw<n>), Redis database and media root (nelmas/settings_test.py). PYTEST_WORKERS=0 runs
# the suite in one process; PYTEST_ARGS adds to the command line (e.g. PYTEST_ARGS="-k export").
PYTEST_WORKERS ?= 2
PYTEST_XDIST = -n $(PYTEST_WORKERS) --dist loadgroup

test: venv sysdeps browserdeps
	$(PY) -m ruff check .
	# The layers of shared/docs/architecture.md (pyproject [tool.importlinter]): apps import downwards only.
	$(VENV)/bin/lint-imports
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

# The traceability matrix for this commit: runs the suite, then writes HTML and PDF under
# test-artifacts/validation/ (requirements → risk → tests → pass/fail, commit and versions).
validation-report: venv sysdeps browserdeps
	mkdir -p test-artifacts/validation
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		VALIDATION_MAP=test-artifacts/validation/markers.json \
		$(PY) -m pytest $(PYTEST_XDIST) $(PYTEST_ARGS) --junitxml=test-artifacts/validation/junit.xml || true
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} DJANGO_SETTINGS_MODULE=nelmas.settings_test \
		$(PY) manage.py validation_report \
		--junit test-artifacts/validation/junit.xml --map test-artifacts/validation/markers.json \
		--out test-artifacts/validation

# Benchmarks on PostgreSQL: trials of BENCH_SMALL and BENCH_LARGE patients, figures as ratios;
# writes bench/RESULTS.md. Not part of make test.
bench: venv sysdeps
	$(PY) -m pip install -q -e '.[test,bench]'
	BENCH_LARGE=$${BENCH_LARGE:-10000} $(PY) bench/run.py

lint: venv
	$(PY) -m ruff check .
	$(VENV)/bin/lint-imports

compose-check:
	scripts/sysdeps.sh $(COMPOSE_DEBS)
	docker-compose -f docker-compose.yml config -q

clean:
	rm -rf $(VENV) db.sqlite3 media staticfiles test-artifacts .pytest_cache .ruff_cache
