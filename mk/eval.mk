# Evaluation harness (mgd bench): plots need matplotlib; Java compile checks need javac
# (Debian openjdk-17-jdk-headless) and, for the committed Java run, the JDK 17 sources.
SETUP_TARGETS += $(VENV)/.mgd-eval
$(VENV)/.mgd-eval: $(VENV)/.mgd-installed mk/eval.mk
	$(VENV)/bin/pip install -q "matplotlib>=3.8"
	touch $@
