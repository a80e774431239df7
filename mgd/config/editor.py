"""Settings of ``mgd lsp``: one typed, frozen object, merged from several sources.

Precedence (later wins): defaults < ``[editor]`` table of ``mgd.toml`` (the
workspace's, or ``--config``; read by :func:`mgd.config.load_config`) <
command-line flags < the editor's ``initializationOptions``. Unknown keys and
wrong types raise :class:`~monitors.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mgd.config.validate import merge_fields
from monitors.errors import ConfigError

__all__ = ["API_KEY_ENV", "FIM_FAMILIES", "EditorOptions"]

#: The FIM template families (:mod:`mgd.engines.fim` has one template per name).
FIM_FAMILIES = ("starcoder", "santacoder", "qwen", "deepseek", "codellama", "codestral", "starcoder-spm",
                "santacoder-spm")
FimTemplateName = Literal["auto", "starcoder", "santacoder", "qwen", "deepseek", "codellama", "codestral",
                          "starcoder-spm", "santacoder-spm"]
#: The environment variable the remote engine reads its API key from (unless told another).
API_KEY_ENV = "MGD_REMOTE_API_KEY"


#: Old spellings of settings, rejected with the new name.
RENAMED = {"lookup_wait_ms": "wait_ms"}


@dataclass(frozen=True, slots=True)
class EditorOptions:
    """Everything the editor server can be told.

    ``engine``: ``local`` (transformers, in process) or ``remote`` (an
    OpenAI-compatible ``/v1/completions`` endpoint at ``remote_url``, such as
    ``mgd serve``/vLLM with the mgd plugin). ``server``: language server preset
    (None: the language's default). ``debounce_ms``: the first token is picked no
    earlier than this after the request (the lookup and the prompt's prefill run in
    the window; a newer request in that time replaces this one).
    ``latency_budget_ms``: generation stops (returning what it has) this long after
    the request arrived (or after the model became ready, for a request that waited
    for it). ``wait_ms``: the longest one decoding step waits for
    the language server (it fails open after) — except the first token after the
    cursor, which waits until the latency budget ends rather than write unchecked
    text right after the user's dot. ``fim``: fill-in-the-middle prompts
    (``auto``: when the tokenizer has the FIM tokens). ``threads``: torch CPU
    threads of the local engine (1 keeps latency steady next to the editor and the
    language server; 0 leaves torch's default). ``kv_reuse``: keep the last
    generation's KV cache and reuse the prompt prefix it shares with the next one.
    ``decoder``: the local engine's forward pass (``lean``: a hand-written Llama
    forward with a preallocated KV cache, :mod:`.lean`; ``hf``: ``model(...)``;
    ``auto``: lean when the model is a plain Llama). ``quantize``: ``int8`` runs the
    lean decoder's layer projections as int8 GEMMs (faster on CPU; the text can differ
    from the model's exact one). ``speculate_tokens``: while
    the language server has not answered, greedy decoding goes on unmasked for up
    to this many tokens, each checked against its mask when the answer comes (the
    text is the same as waiting; 0: wait). ``temperature``/``top_p``: sampling
    (temperature 0: greedy), the same sampler as ``mgd generate``.
    ``fim_template``: the FIM prompt layout (``auto``: detected from the
    tokenizer's special tokens, or for a remote server from its ``/tokenize``).
    ``remote_api_key``: sent as ``Authorization: Bearer`` (default: the
    environment variable named by ``remote_api_key_env``); never logged nor shown
    in ``mgd.stats``. ``remote_tls_verify``/``remote_ca_file``: certificate checks
    for ``https`` (a CA bundle for private endpoints). ``startup_timeout_ms``: how
    long a request that arrives while the model loads waits for it (its latency
    budget starts when the model is ready).
    """

    engine: Literal["local", "remote"] = "local"
    model: str | None = None
    device: str = "cpu"
    threads: int = 1
    remote_url: str | None = None
    remote_model: str | None = None
    remote_timeout_s: float = 30.0
    remote_api_key: str | None = field(default=None, repr=False)
    remote_api_key_env: str = API_KEY_ENV
    remote_tls_verify: bool = True
    remote_ca_file: str | None = None
    server: str | None = None
    monitors: bool = True
    fim: Literal["auto", "on", "off"] = "auto"
    fim_template: FimTemplateName = "auto"
    debounce_ms: int = 60
    latency_budget_ms: int = 2000
    wait_ms: int = 1500
    max_tokens_single: int = 16  # a rest of line after `obj.` in click: p50 6, p90 15 tokens
    max_tokens_multi: int = 96
    max_lines: int = 12
    max_prompt_tokens: int = 256
    max_suffix_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    kv_reuse: bool = True
    decoder: Literal["auto", "lean", "hf"] = "auto"
    quantize: Literal["none", "int8"] = "none"
    speculate_tokens: int = 0
    warm_server: bool = True
    startup_timeout_ms: int = 120000

    def __post_init__(self) -> None:
        if self.engine not in ("local", "remote"):
            raise ConfigError(f"engine must be 'local' or 'remote', not {self.engine!r}")
        if self.decoder not in ("auto", "lean", "hf"):
            raise ConfigError(f"decoder must be 'auto', 'lean' or 'hf', not {self.decoder!r}")
        if self.quantize not in ("none", "int8"):
            raise ConfigError(f"quantize must be 'none' or 'int8', not {self.quantize!r}")
        if not 0 <= self.speculate_tokens <= 256:
            raise ConfigError("speculate_tokens must be between 0 and 256")
        if self.fim not in ("auto", "on", "off"):
            raise ConfigError(f"fim must be 'auto', 'on' or 'off', not {self.fim!r}")
        if self.engine == "remote" and not self.remote_url:
            raise ConfigError("engine 'remote' needs remote_url (e.g. http://127.0.0.1:8000)")
        for name in ("debounce_ms", "wait_ms", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0")
        if self.fim_template != "auto" and self.fim_template not in FIM_FAMILIES:
            raise ConfigError(f"fim_template must be 'auto' or one of {', '.join(FIM_FAMILIES)}, not {self.fim_template!r}")
        for name in ("latency_budget_ms", "startup_timeout_ms", "max_tokens_single", "max_tokens_multi", "max_lines",
                     "max_prompt_tokens", "max_suffix_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1")
        if self.temperature < 0 or self.remote_timeout_s <= 0:
            raise ConfigError("temperature must be >= 0 and remote_timeout_s > 0")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p must be in (0, 1]")

    def merged(self, values: Mapping[str, Any] | None, source: str = "options") -> EditorOptions:
        """A copy with ``values`` applied (checked: unknown keys and bad types raise).
        A ``remote_url`` alone selects the remote engine."""
        out = merge_fields(self, values, source, RENAMED)
        if values and (values.get("remote_url") or values.get("remote-url")) and "engine" not in values:
            out = dataclasses.replace(out, engine="remote")
        return out

    def as_dict(self) -> dict[str, Any]:
        """The settings, with the API key redacted (safe to log or return to a client)."""
        out = dataclasses.asdict(self)
        if out["remote_api_key"]:
            out["remote_api_key"] = "<redacted>"
        return out
