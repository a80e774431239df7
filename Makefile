# Two commands for a fresh machine:  `make demo`  and  `make test`.
# Features that need more than the core venv add a fragment mk/<feature>.mk that
# appends its install target to SETUP_TARGETS (see mk/README.md).
PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
PYRIGHT ?= pyright@1.1.414
MGD_MODEL ?= $(abspath ../shared/models/tinycode-27m)
export MGD_MODEL

BIN := $(VENV)/bin
SETUP_TARGETS := $(VENV)/.mgd-installed
# Test suites that run in another venv (e.g. vLLM's): fragments append make targets.
EXTRA_TEST_TARGETS :=

-include mk/*.mk

.PHONY: setup demo test bench clean

setup: $(SETUP_TARGETS)

$(VENV)/.mgd-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[hf,jedi,grammars,test]"
	mkdir -p $(VENV)/lsp
	npm install --silent --no-audit --no-fund --prefix $(VENV)/lsp $(PYRIGHT)
	ln -sf ../lsp/node_modules/.bin/pyright-langserver $(BIN)/pyright-langserver
	touch $@

demo: setup
	$(BIN)/mgd demo

test: setup
	$(BIN)/pytest -q
	@for t in $(EXTRA_TEST_TARGETS); do $(MAKE) --no-print-directory $$t || exit 1; done

clean:
	rm -rf $(VENV) .venv-* .pytest_cache benchmarks/.cache
