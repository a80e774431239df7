"""Answers the first ``FAKE_ANSWERS`` completion requests (default 1) with members
of the demo project's ``Circle``, then is killed (SIGKILL to itself) on the next one."""

import os
import signal

import _rpc

ANSWERS = int(os.environ.get("FAKE_ANSWERS", "1"))
ITEMS = [{"label": name, "kind": 5} for name in ("area", "radius", "circumference", "scaled")]
count = 0


def on_request(message):
    global count
    if message["method"] != "textDocument/completion":
        return
    count += 1
    if count > ANSWERS:
        os.kill(os.getpid(), signal.SIGKILL)
    _rpc.reply(message, {"isIncomplete": False, "items": ITEMS})


_rpc.serve(on_request)
