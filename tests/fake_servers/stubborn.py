"""Initializes, then ignores shutdown, exit and SIGTERM: only SIGKILL stops it."""

import signal

import _rpc

signal.signal(signal.SIGTERM, signal.SIG_IGN)
while (message := _rpc.read()) is not None:
    if message.get("method") == "initialize":
        _rpc.reply(message, _rpc.initialize_result())
