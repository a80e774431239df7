"""mgd inside vLLM: logits processors for both model runners, offline engine, server.

Modules: :mod:`.settings` (per-request ``mgd`` settings, operator allow-list),
:mod:`.core` (the shared monitor core: session, non-blocking guides, stats),
:mod:`.gate` (at most a few lookups per language server in flight),
:mod:`.v1` / :mod:`.v2` (the processors), :mod:`.plugin` (the entry point),
:mod:`.offline` (``mgd generate --engine vllm``), :mod:`.healing` (token healing).
Only :mod:`.settings`, :mod:`.core` and :mod:`.gate` import without vLLM.
"""
