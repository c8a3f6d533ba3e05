# Two entry points: `make serve` (run the registry on embedded defaults) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: serve test venv system-deps bench clean

$(BIN)/berth: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(BIN)/berth

venv: $(BIN)/berth

serve: venv
	$(BIN)/berth serve

system-deps:
	bash scripts/install-system-deps.sh

test: system-deps venv
	$(BIN)/python -m pytest -q -ra $(PYTEST_ARGS)

bench: system-deps venv
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) berth-data
