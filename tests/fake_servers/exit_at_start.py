"""Exits at once with an error message, before reading anything."""

import sys

sys.stderr.write("fake server: cannot start (missing toolchain)\n")
sys.exit(3)
