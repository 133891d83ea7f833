# Two entry points for a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export ANNY_CACHE_DIR := $(CURDIR)/.cache/anny
# No OMP_NUM_THREADS here: UVatar picks torch threads per stage from the free cores (uvatar/threads.py);
# a user who sets OMP_NUM_THREADS (or --threads) forces a count.

$(BIN)/uvatar: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,app]'
	touch $(BIN)/uvatar

.PHONY: install demo test test-slow bench body-demo
install: $(BIN)/uvatar

demo: install
	$(BIN)/uvatar reconstruct examples/astronaut.png -o out/astronaut

# Tools some tests use: Debian's chromium (viewer screenshot; installed here when run as root with apt-get)
# and the Khronos glTF validator (npm, pinned in tools/gltf-validator); those tests skip, saying why, without them.
.PHONY: test-tools
test-tools:
	@if ! command -v chromium >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		(apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null) || echo "could not install chromium: the viewer browser test will skip"; fi
	@if command -v npm >/dev/null 2>&1 && [ ! -d tools/gltf-validator/node_modules/gltf-validator ]; then \
		npm ci --prefix tools/gltf-validator --no-audit --no-fund >/dev/null || echo "could not install gltf-validator: the validator checks will skip"; fi

test: install test-tools
	$(BIN)/python -m pytest -q

test-slow: install
	$(BIN)/python -m pytest -q -m slow

bench: install
	$(BIN)/uvatar bench render

body-demo: install
	$(BIN)/uvatar body-demo -o out/body-demo
