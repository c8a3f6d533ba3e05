# Two entry points: `make serve` (run the registry on embedded defaults) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test venv test-venv system-deps bench clean

# Serving needs Berth and its runtime dependencies only; the tests add their toolchain.
$(VENV)/.serve: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.test: $(VENV)/.serve
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.serve

test-venv: $(VENV)/.test

serve: venv
	$(BIN)/berth serve $(SERVE_ARGS)

system-deps:
	bash scripts/install-system-deps.sh

test: system-deps test-venv
	$(BIN)/python -m pytest -q -ra --durations=40 $(PYTEST_ARGS)

bench: system-deps test-venv
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) berth-data
