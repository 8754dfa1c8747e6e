# autocoin: `make run` sets up and runs the service; `make test` sets up and runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

.PHONY: run setup test lint demo sandbox engine web backup bench soak clean browser-deps

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)
	$(PY) scripts/bootstrap.py
	$(PY) manage.py migrate --no-input -v 0
	$(PY) manage.py ensureadmin
	$(PY) manage.py collectstatic --no-input -v 0

run: setup
	$(PY) manage.py runall

demo: setup
	$(PY) manage.py runall --demo

browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null 2>&1)) \
	      || echo "autocoin: chromium could not be installed; browser tests will be skipped"; \
	  else echo "autocoin: chromium not found (install it with your package manager); browser tests will be skipped"; fi; }
	@# Korean pages need a Korean font, or their screenshots show empty boxes.
	@fc-list :lang=ko 2>/dev/null | grep -q . || { \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq fonts-noto-cjk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq fonts-noto-cjk >/dev/null 2>&1)) \
	      || echo "autocoin: fonts-noto-cjk could not be installed; Korean screenshots will show boxes"; \
	  else echo "autocoin: no Korean font found (install fonts-noto-cjk); Korean screenshots will show boxes"; fi; }

# The suite runs in parallel and in a random order whose seed it prints; `make test TEST_ARGS="--seed N"` repeats an order.
test: $(STAMP) browser-deps
	$(PY) scripts/bootstrap.py
	$(PY) manage.py collectstatic --no-input -v 0
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy autocoin exchange trading
	$(PY) manage.py makemigrations --check --dry-run -v 1
	$(PY) scripts/run_tests.py $(TEST_ARGS)

# Fix what can be fixed, then check what cannot: the same checks `make test` runs first.
lint: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/mypy autocoin exchange trading
	$(VENV)/bin/lint-imports

# Speed and memory figures (not part of the test suite): each script prints its own.
bench: setup
	$(PY) bench/bench_admin.py
	$(PY) bench/bench_cycle.py
	$(PY) bench/bench_web.py
	$(PY) bench/bench_sandbox.py
	$(PY) bench/bench_client.py
	$(PY) bench/bench_stream.py
	$(PY) bench/bench_backtest.py
	$(PY) bench/bench_optimize.py --reuse-db
	$(PY) bench/bench_replay.py

# The chaos soak (docs/SOAK.md): the live engine, web server and sandbox under random faults, then an audit
# against the exchange; exits non-zero on any discrepancy. `make soak SOAK_ARGS="--db postgres://..."`.
SOAK_MINUTES ?= 2
soak: $(STAMP)
	$(PY) scripts/bootstrap.py
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

backup: $(STAMP)
	$(PY) manage.py backup

clean:
	rm -rf $(VENV) staticfiles test-output
