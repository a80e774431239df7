"""mgd inside vLLM: logits processors for both model runners, offline engine, server.

Modules: :mod:`.compat` (the supported vLLM releases, what differs between them,
how a config and a model runner are read), :mod:`.common` (operator settings from
vLLM's ``additional_config``, request validation, engine checks), :mod:`.core` (the shared monitor core: session,
non-blocking guides, stats), :mod:`.ranks` (one leader rank asks the language
servers; tensor-parallel followers apply its masks), :mod:`.v1` / :mod:`.v2`
(the processors), :mod:`.plugin` (the entry point: never fatal to vLLM),
:mod:`.offline` (``mgd generate --engine vllm``). Only :mod:`.compat`,
:mod:`.common`, :mod:`.core` and :mod:`.ranks` import without vLLM.
"""
