# Evaluation harness (mgd bench): plots need matplotlib, --engine remote httpx, progress bars tqdm
# (the `eval` extra); Java compile checks need javac
# (Debian openjdk-17-jdk-headless) and, for the committed Java run, the JDK 17 sources.
SETUP_TARGETS += $(VENV)/.mgd-eval
$(VENV)/.mgd-eval: $(VENV)/.mgd-installed mk/eval.mk pyproject.toml
	$(VENV)/bin/pip install -q -e ".[eval]"
	command -v javac >/dev/null || \
	  { $(SUDO) $(APT_GET) update -q && $(SUDO) $(APT_GET) install -y -q openjdk-17-jdk-headless; }
	touch $@

# Figures and the sealed report (issue 30). `make figures` writes every marked figure of the
# README and docs from its committed result file (benchmarks/figures.py; a test checks them);
# `make budget` chooses each language's token budget on its development split; `make report`
# runs each report split once per version (benchmarks/report.py; FORCE=1 runs it again) and
# appends to benchmarks/results/eval/report-history.jsonl.
.PHONY: figures budget report
REPORT_ARGS ?=
figures: $(VENV)/.mgd-installed
	$(BIN)/python benchmarks/figures.py

budget: $(VENV)/.mgd-eval
	$(BIN)/python benchmarks/report.py budget $(REPORT_ARGS)

report: $(VENV)/.mgd-eval
	$(BIN)/python benchmarks/report.py run $(if $(FORCE),--force) $(REPORT_ARGS)
	$(BIN)/python benchmarks/figures.py
