"""Asks the client the questions real servers ask, logs the answers, reports
progress, and answers completion with a fixed list (with snippets and noise)."""

import os
import threading
import time

import _rpc

ITEMS = [
    {"label": "radius", "kind": 5},
    {"label": "area()", "kind": 2, "insertText": "area"},
    {"label": "scale(double) : Circle", "kind": 2},
    {"label": "grow", "kind": 2, "insertText": "grow(${1:factor})$0", "insertTextFormat": 2},
    {"label": "if", "kind": 14},
    {"label": "plain"},
    {"label": "not an identifier"},
    {
        "label": "x",
        "kind": 6,
        "textEdit": {
            "newText": "édition",
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
        },
    },
]


def after_initialized():
    _rpc.write(
        {
            "id": 100,
            "method": "workspace/configuration",
            "params": {"items": [{"section": "fake.nested"}, {"section": "fake"}, {"section": "missing.key"}, {}]},
        }
    )
    _rpc.write(
        {
            "id": 101,
            "method": "client/registerCapability",
            "params": {"registrations": [{"id": "r1", "method": "workspace/didChangeConfiguration"}]},
        }
    )
    _rpc.write({"id": 102, "method": "window/workDoneProgress/create", "params": {"token": "t1"}})
    _rpc.write({"id": 103, "method": "workspace/workspaceFolders"})
    _rpc.write({"method": "$/progress", "params": {"token": "t1", "value": {"kind": "begin", "title": "indexing"}}})
    time.sleep(float(os.environ.get("FAKE_PROGRESS_S", "0.3")))
    _rpc.write({"method": "$/progress", "params": {"token": "t1", "value": {"kind": "end"}}})


def main():
    shut_down = False
    while (message := _rpc.read()) is not None:
        method = message.get("method")
        if method == "initialize":
            _rpc.reply(message, _rpc.initialize_result())
        elif method == "initialized":
            threading.Thread(target=after_initialized, daemon=True).start()
        elif method == "textDocument/completion":
            _rpc.reply(message, {"isIncomplete": True, "items": ITEMS})
        elif method == "shutdown":
            shut_down = True
            _rpc.reply(message, None)
        elif method == "exit":
            raise SystemExit(0 if shut_down else 1)


main()
