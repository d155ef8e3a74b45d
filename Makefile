# Two commands set up a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install test demo lint format clean check-figures

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

test: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m pytest -n 2 --dist loadfile -q $(PYTEST_ARGS)

demo: $(VENV)/.installed
	$(PY) recipes/demo.py --output-dir demo_output  # it sets TF_CPP_MIN_LOG_LEVEL=3 unless set

# Every measured figure in the documents is in a committed JSON it cites (stdlib only, ~1 s).
check-figures:
	$(PYTHON) tools/check_figures.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) build dist *.egg-info demo_output

# The optional torch environment of benchmarks/finetune_real.py's reference trainer
# (torchvision's RetinaNet); never a dependency of the package.
venv-torch:
	$(PYTHON) -m venv .venv-torch
	.venv-torch/bin/pip install --quiet torch==2.14.1 torchvision==0.29.1
