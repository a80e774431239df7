"""Minimal LSP framing for the fake servers (stdlib only, so they start fast).

Every message received is appended to the file named by ``FAKE_LSP_LOG`` (one
JSON object per line), so tests can check what the client sent.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

_out_lock = threading.Lock()


def read() -> dict[str, Any] | None:
    """The next message from stdin, or None at end of input."""
    length = 0
    while True:
        line = sys.stdin.buffer.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode("ascii").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    message = json.loads(sys.stdin.buffer.read(length))
    log(message)
    return message


def write(message: dict[str, Any]) -> None:
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    with _out_lock:
        sys.stdout.buffer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        sys.stdout.buffer.flush()


def reply(request: dict[str, Any], result: Any) -> None:
    write({"id": request["id"], "result": result})


def log(message: dict[str, Any]) -> None:
    path = os.environ.get("FAKE_LSP_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(message) + "\n")


def initialize_result() -> dict[str, Any]:
    return {
        "capabilities": {
            "textDocumentSync": 2,
            "completionProvider": {"triggerCharacters": ["."]},
        },
        "serverInfo": {"name": "fake"},
    }


def serve(on_request: Any = None) -> None:
    """A loop that answers initialize/shutdown, exits on exit, and hands other
    requests to ``on_request(message)``."""
    shut_down = False
    while (message := read()) is not None:
        method = message.get("method")
        if method == "initialize":
            reply(message, initialize_result())
        elif method == "shutdown":
            shut_down = True
            reply(message, None)
        elif method == "exit":
            sys.exit(0 if shut_down else 1)
        elif "id" in message and method is not None and on_request is not None:
            on_request(message)
