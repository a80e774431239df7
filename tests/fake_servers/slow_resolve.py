"""Answers completion at once (with ``resolveProvider``); ``completionItem/resolve`` only
for the item named ``quick`` (a detail), never for the others."""

import _rpc

_base = _rpc.initialize_result


def initialize_result():
    out = _base()
    out["capabilities"]["completionProvider"]["resolveProvider"] = True
    return out


_rpc.initialize_result = initialize_result


def on_request(message):
    method = message["method"]
    if method == "textDocument/completion":
        items = [{"label": "quick", "kind": 6}, {"label": "stuck", "kind": 6}]
        _rpc.reply(message, {"isIncomplete": False, "items": items})
    elif method == "completionItem/resolve" and message["params"]["label"] == "quick":
        _rpc.reply(message, {**message["params"], "detail": "quick: int"})


_rpc.serve(on_request)
