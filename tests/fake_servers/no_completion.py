"""Initializes without ``completionProvider`` and never answers a completion request."""

import _rpc


def initialize_result():
    return {"capabilities": {"textDocumentSync": 2}, "serverInfo": {"name": "fake-no-completion"}}


_rpc.initialize_result = initialize_result
_rpc.serve(lambda message: None)
