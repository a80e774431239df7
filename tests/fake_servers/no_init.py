"""Reads requests but never answers initialize."""

import _rpc

while _rpc.read() is not None:
    pass
