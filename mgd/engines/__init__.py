"""Engines: Hugging Face ``generate``, tree speculative decoding, the editor's local decoder."""
