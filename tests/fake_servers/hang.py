"""Initializes fine, then answers completion only after FAKE_DELAY seconds (never by default)."""

import os
import threading

import _rpc

DELAY = float(os.environ.get("FAKE_DELAY", "inf"))


def on_request(message):
    if message["method"] != "textDocument/completion" or DELAY == float("inf"):
        return
    items = [{"label": "late", "kind": 6}]
    threading.Timer(DELAY, _rpc.reply, (message, {"isIncomplete": False, "items": items})).start()


_rpc.serve(on_request)
