# prefecture-watchdog: `make test` sets this machine up and runs exactly what CI runs.
# `make help` lists the targets. Variables: VENV (default .venv), PYTHON (interpreter for the
# venv), PYTEST_ARGS, DEMO_ARGS, BENCH_ARGS, KEEP_PG=1 (keep a throwaway PostgreSQL running).

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(VENV)/bin
export VENV
PYTEST_ARGS ?=
DEMO_ARGS ?=
BENCH_ARGS ?=
KEEP_PG ?=

.PHONY: help setup test check format-check lint typecheck pytest format demo bench clean \
	distclean venv-present

help:
	@echo "make test       setup, then check: what CI runs (.ci/run)"
	@echo "make setup      venv + pip install -e '.[dev]' + Debian packages (idempotent)"
	@echo "make check      ruff format --check, ruff check, mypy, pytest (no setup)"
	@echo "make demo       setup, then $(BIN)/watchdog demo \$$DEMO_ARGS"
	@echo "make bench      setup, then $(BIN)/python -m bench \$$BENCH_ARGS"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make clean      caches and build output; stops a throwaway PostgreSQL"
	@echo "make distclean  clean, and delete $(VENV)"

setup:
	bash scripts/setup.sh

# check runs in a sub-make so that setup has finished before it starts, even with -j.
test: setup
	@$(MAKE) --no-print-directory check

check: format-check lint typecheck pytest

venv-present:
	@[[ -x $(BIN)/ruff && -x $(BIN)/mypy && -x $(BIN)/pytest ]] || \
	{ echo "make: $(VENV) is missing or incomplete: run 'make setup' (or 'make test')" >&2; exit 1; }

format-check: venv-present
	$(BIN)/ruff format --check .

lint: venv-present
	$(BIN)/ruff check .

typecheck: venv-present
	$(BIN)/mypy

# pytest against a real PostgreSQL (scripts/ensure-postgres.sh picks or starts one). A skipped
# test fails the run: CI must run every test. Exit 5 (no test collected) is accepted only while
# tests/ has no test file. pytest's own exit code is kept otherwise.
pytest: venv-present
	@eval "$$(scripts/ensure-postgres.sh)"; \
	log=$$(mktemp); \
	cleanup() { \
		rm -f "$$log"; \
		if [[ -n "$${WATCHDOG_TEST_PG_THROWAWAY:-}" && "$(KEEP_PG)" != 1 ]]; then \
			scripts/ensure-postgres.sh --stop; \
		fi; \
	}; \
	trap cleanup EXIT; \
	trap 'exit 130' INT; \
	trap 'exit 143' TERM; \
	color=no; if [[ -t 1 ]]; then color=yes; fi; \
	echo "$(strip $(BIN)/pytest -q -ra --strict-markers $(PYTEST_ARGS))" \
		"(WATCHDOG_TEST_PG_URL=$$WATCHDOG_TEST_PG_URL)"; \
	set +e; \
	$(BIN)/pytest -q -ra --strict-markers --color=$$color $(PYTEST_ARGS) 2>&1 | (trap '' INT; exec tee "$$log"); \
	rc=$${PIPESTATUS[0]}; \
	set -e; \
	if sed 's/\x1b\[[0-9;]*m//g' "$$log" | grep -Eq '^SKIPPED \[|[0-9]+ skipped(,| in [0-9])'; \
	then \
		echo "make: pytest skipped tests (SKIPPED above): every test must run" >&2; \
		if [[ $$rc == 0 ]]; then rc=1; fi; \
	fi; \
	if [[ $$rc == 5 ]]; then \
		if find tests -name 'test_*.py' -o -name '*_test.py' 2>/dev/null | grep -q .; then \
			echo "make: pytest collected no test, yet tests/ has test files" >&2; \
		else \
			echo "make: no test file in tests/ yet: nothing to run"; rc=0; \
		fi; \
	fi; \
	exit $$rc

format: venv-present
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

demo: setup
	$(BIN)/watchdog demo $(DEMO_ARGS)

bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	bash scripts/ensure-postgres.sh --stop
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache ./*.egg-info
	find . \( -name .git -o -name '$(notdir $(VENV))' \) -prune -o \
		-type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
