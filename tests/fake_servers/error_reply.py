"""Answers completion with a JSON-RPC error."""

import _rpc


def on_request(message):
    error = {"code": -32603, "message": "kaboom"}
    _rpc.write({"id": message["id"], "error": error})


_rpc.serve(on_request)
