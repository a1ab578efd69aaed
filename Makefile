# Two entry points for a new user (see README.md):
#   make demo   lab + scan + report on the embedded defaults
#   make test   system packages, virtualenv, lint, format, types, tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: test demo lint types unit bench fuzz system-deps venv clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	scripts/system-deps.sh

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

types: venv
	$(BIN)/mypy src

unit: venv
	$(BIN)/pytest -q -p no:cacheprovider

test: system-deps venv lint types unit

demo: venv
	$(BIN)/mxcensus demo

# coverage-guided fuzzing of the parsers (tests/reliability/fuzz.py); FUZZ_SECONDS per target
FUZZ_SECONDS ?= 60
fuzz: venv
	$(BIN)/python -m pip install --quiet -e '.[fuzz]'
	$(BIN)/python -m tests.reliability.fuzz --seconds $(FUZZ_SECONDS)

bench: venv system-deps
	$(BIN)/python bench/scan.py
	$(BIN)/python bench/identify.py
	$(BIN)/python bench/data.py
	$(BIN)/python bench/lab.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
