"""Stands in for ``java`` under mgd's JDT LS launcher (``lsp_bridge.jdtls``): answers
``-version`` as Java 21, otherwise records its argv and the mode of the private
directory holding ``-data`` (to ``FAKE_DUMP``) and serves LSP like the other fakes."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _rpc  # noqa: E402

if "-version" in sys.argv:
    sys.stderr.write('openjdk version "21.0.2" 2024-01-16\n')
    sys.exit(0)
data = sys.argv[sys.argv.index("-data") + 1]
private = os.path.dirname(data)
with open(os.environ["FAKE_DUMP"], "w", encoding="utf-8") as fh:
    json.dump({"argv": sys.argv, "private": private, "mode": os.stat(private).st_mode & 0o777,
               "pid": os.getpid()}, fh)
_rpc.serve(lambda message: None)
