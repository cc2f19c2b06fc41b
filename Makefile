# Single entry point. `make demo` and `make test` each do all setup on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(abspath $(VENV))/bin
STAMP  := $(VENV)/.installed-stamp
# torch is pinned here (not in pyproject, which keeps torch>=2.4): the local CPU wheel, same pip call.
TORCH  ?= torch==2.13.0
# Where torch comes from: auto (CUDA build if nvidia-smi exists or a local wheel is in pip's find-links,
# else the CPU wheel index), cpu, default (pip's indexes), or an index URL. See scripts/torch_index.sh.
TORCH_INDEX ?= auto
export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg

.PHONY: install demo test lint bench gpu-check docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $$(PYTHON=$(BIN)/python scripts/torch_index.sh $(TORCH_INDEX)) "$(TORCH)" -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hal9 demo

lint: $(STAMP)
	$(BIN)/ruff check hal9 tests scripts experiments
	$(BIN)/ruff format --check hal9 tests scripts experiments
	$(BIN)/mypy hal9

test: lint
	$(BIN)/python scripts/import_time.py --check
	$(BIN)/python -m pytest --nbmake --doctest-modules hal9 tests notebooks

bench: $(STAMP)
	scripts/bench.sh

gpu-check: $(STAMP)
	scripts/gpu_check.sh

docs: $(STAMP)
	$(BIN)/pip install $$(PYTHON=$(BIN)/python scripts/torch_index.sh $(TORCH_INDEX)) "$(TORCH)" -e ".[docs]"
	rm -rf docs/notebooks && cp -r notebooks docs/notebooks
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .docs-venv site docs/notebooks outputs mlruns mlflow.db .hal9_fallback
