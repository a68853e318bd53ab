# Two commands on a fresh machine:  make demo   and   make test
# Each creates .venv if missing and installs into it with pip.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch/torchvision for this machine; override for other hardware, e.g.
#   make demo TORCH_INSTALL="torch torchvision --index-url https://download.pytorch.org/whl/cpu"
TORCH_INSTALL ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed

.PHONY: demo test install clean-demo

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH_INSTALL)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/slopscore demo --out demo

test: $(STAMP)
	$(BIN)/python -m pytest

clean-demo:
	rm -rf demo
