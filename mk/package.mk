# The wheel on its own (issue 19): build it, install it into a fresh venv outside the
# repository (torch first, then every extra but vllm), and run mgd --version, doctor, demo and
# generate from an empty directory (tests/package/test_wheel.py; the main run leaves it out).
EXTRA_TEST_TARGETS += test-wheel
.PHONY: test-wheel
test-wheel: setup
	MGD_WHEEL_TEST=1 TORCH="$(TORCH)" PYRIGHT="$(PYRIGHT)" $(BIN)/pytest -q -s tests/package
