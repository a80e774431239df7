# Editor integration (issue 18): httpx for the remote engine (the `remote` extra) and Neovim
# (Debian's, 0.7+), whose built-in LSP client the editor tests drive headless.
APT_GET ?= DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600
SUDO ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)

SETUP_TARGETS += $(VENV)/.mgd-editor
$(VENV)/.mgd-editor: $(VENV)/.mgd-installed mk/editor.mk pyproject.toml
	$(BIN)/pip install -q -e ".[remote]"
	command -v nvim >/dev/null || \
	  { $(SUDO) $(APT_GET) update -q && $(SUDO) $(APT_GET) install -y -q neovim; }
	touch $@
