# Two entry points for a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export ANNY_CACHE_DIR := $(CURDIR)/.cache/anny
export OMP_NUM_THREADS ?= 2

$(BIN)/uvatar: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/uvatar

.PHONY: install demo test test-slow bench body-demo
install: $(BIN)/uvatar

demo: install
	$(BIN)/uvatar reconstruct examples/astronaut.png -o out/astronaut

test: install
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

bench: install
	$(BIN)/uvatar bench render

body-demo: install
	$(BIN)/uvatar body-demo -o out/body-demo
