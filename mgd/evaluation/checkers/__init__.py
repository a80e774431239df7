"""One module per checker tool (pyright, javac, go, tsc); :mod:`mgd.evaluation.compile_check` dispatches."""
