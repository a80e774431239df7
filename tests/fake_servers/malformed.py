"""Initializes fine, then answers completion with broken framing (``FAKE_MODE``):

* ``body``: a correct Content-Length around a body that is not JSON;
* ``short``: a Content-Length shorter than the (valid JSON) body;
* ``long``: a Content-Length longer than the body (the reader waits for bytes
  that never come).
"""

import json
import os
import sys

import _rpc

MODE = os.environ.get("FAKE_MODE", "body")


def on_request(message):
    if message["method"] != "textDocument/completion":
        return
    if MODE == "body":
        body = b"{this is not json" + b"\xff" * 8
        length = len(body)
    else:
        result = {"isIncomplete": False, "items": [{"label": "radius", "kind": 5}]}
        body = json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}).encode()
        length = len(body) // 2 if MODE == "short" else len(body) + 4096
    with _rpc._out_lock:
        sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % length + body)
        sys.stdout.buffer.flush()


_rpc.serve(on_request)
