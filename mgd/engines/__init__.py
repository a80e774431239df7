"""Engines: Hugging Face ``generate``, tree speculative decoding, the editor's local decoder.

They share one masking function (:mod:`.masking`), one sampler and stop rules,
and build every guide through :class:`mgd.session.MgdSession`. The vLLM
processors live in :mod:`mgd.vllm`.
"""
