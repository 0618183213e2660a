# pipesdfa: `make demo` and `make test` work from nothing (they create .venv first).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TORCH := torch==2.13.0
# pip installs torch from the index it is configured with: on Linux x86-64, PyPI serves the
# CUDA build. For the CPU-only build (no CUDA libraries, ~200 MB instead of several GB):
#   make setup TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.PHONY: setup demo test test-slow bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo "setting up $(VENV): $(TORCH), then pipesdfa with its test extras (pip's output: $(VENV)/install.log)"
	@$(PY) -m venv $(VENV)
	@{ $(BIN)/python -m pip install --upgrade pip && \
	   $(BIN)/python -m pip install $(TORCH) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) && \
	   $(BIN)/python -m pip install -e '.[test]'; } > $(VENV)/install.log 2>&1 \
	  || { tail -n 30 $(VENV)/install.log; echo "pip failed; the whole log is $(VENV)/install.log"; exit 1; }
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/pipesdfa demo --out runs/demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Exit code 5 (no test selected) is fine here: slow tests skip when real data is absent.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

clean:
	rm -rf $(VENV) runs build *.egg-info src/*.egg-info .pytest_cache
