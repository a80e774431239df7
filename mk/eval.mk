# Evaluation harness (mgd bench): plots need matplotlib, --engine remote httpx, progress bars tqdm
# (the `eval` extra); Java compile checks need javac
# (Debian openjdk-17-jdk-headless) and, for the committed Java run, the JDK 17 sources.
SETUP_TARGETS += $(VENV)/.mgd-eval
$(VENV)/.mgd-eval: $(VENV)/.mgd-installed mk/eval.mk pyproject.toml
	$(VENV)/bin/pip install -q -e ".[eval]"
	command -v javac >/dev/null || \
	  { $(SUDO) $(APT_GET) update -q && $(SUDO) $(APT_GET) install -y -q openjdk-17-jdk-headless; }
	touch $@
