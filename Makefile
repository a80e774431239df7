# Two commands for a fresh machine:  `make demo`  and  `make test`.
# `make demo` sets up only what the demo needs (the core venv: PyTorch, transformers, mgd,
# jedi-language-server). `make setup` (and `make test`) sets up everything: features that
# need more add a fragment mk/<feature>.mk that appends its install target to
# SETUP_TARGETS (see mk/README.md).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PYRIGHT ?= pyright@1.1.414
MGD_MODEL ?= $(abspath ../shared/models/tinycode-27m)
export MGD_MODEL
# System packages (gopls, javac, ...): apt-get, through sudo when not root.
APT_GET ?= DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

BIN := $(VENV)/bin
SETUP_TARGETS := $(VENV)/.mgd-installed $(VENV)/.mgd-dev
# Test suites that run in another venv (e.g. vLLM's) or outside the repository (the
# wheel): fragments append make targets.
EXTRA_TEST_TARGETS :=

-include mk/*.mk

# What `make lint` checks (ruff, and pyright as configured in pyproject.toml's [tool.pyright]).
LINT_PATHS := monitors lsp_bridge mgd
# `make test-fast`: the unit tests that start no process and load no model (tests/conftest.py
# marks the others), for the inner loop.
FAST_TESTS := -m "not e2e and not needs_model and not needs_server"

.PHONY: setup demo lint test test-fast bench clean

setup: $(SETUP_TARGETS)

# The core: what `mgd demo` needs.
$(VENV)/.mgd-installed: pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[hf]"
	touch $@

# Development: the test tools (pytest, ruff), every tree-sitter grammar, pyright (npm, into .venv/lsp).
$(VENV)/.mgd-dev: $(VENV)/.mgd-installed pyproject.toml
	$(BIN)/pip install -q -e ".[hf,grammars,test]"
	mkdir -p $(VENV)/lsp
	npm install --silent --no-audit --no-fund --prefix $(VENV)/lsp $(PYRIGHT)
	ln -sf ../lsp/node_modules/.bin/pyright-langserver $(BIN)/pyright-langserver
	touch $@

demo: $(VENV)/.mgd-installed
	$(BIN)/mgd demo

lint: $(VENV)/.mgd-dev
	$(BIN)/ruff check $(LINT_PATHS)
	$(VENV)/lsp/node_modules/.bin/pyright $(LINT_PATHS)

test: setup lint
	$(BIN)/pytest -q
	@for t in $(EXTRA_TEST_TARGETS); do $(MAKE) --no-print-directory $$t || exit 1; done

test-fast: $(VENV)/.mgd-dev
	$(BIN)/pytest -q $(FAST_TESTS)

clean:
	rm -rf $(VENV) .venv-* .pytest_cache benchmarks/.cache build *.egg-info
