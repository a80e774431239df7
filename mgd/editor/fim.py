"""Fill-in-the-middle prompt templates per model family, detected from the tokenizer.

Each family spells its FIM markers differently and some put the suffix first:

============== ======================================================= =======
family         prompt (``P`` prefix, ``S`` suffix)                      BOS
============== ======================================================= =======
starcoder      ``<fim_prefix>P<fim_suffix>S<fim_middle>``               no
santacoder     ``<fim-prefix>P<fim-suffix>S<fim-middle>``               no
qwen           ``<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>``         no
deepseek       ``<｜fim▁begin｜>P<｜fim▁hole｜>S<｜fim▁end｜>``         yes
codellama      ``<PRE> P <SUF>S <MID>``                                 yes
codestral      ``[SUFFIX]S[PREFIX]P`` (suffix first)                    yes
============== ======================================================= =======

(StarCoder2 shares StarCoder's markers; CodeGemma shares Qwen's.) A family is
detected when every one of its marker tokens is a single token of the
tokenizer (:func:`detect_template`); for a remote server the same question is
asked of its ``/tokenize`` endpoint (:mod:`mgd.editor.remote_engine`). ``fim_template``
in ``[editor]`` overrides the detection.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from monitors.errors import ConfigError

__all__ = [
    "TEMPLATES",
    "FimTemplate",
    "detect_template",
    "get_template",
    "resolve_template",
    "single_token_ids",
    "vocab_lookup",
]


@dataclass(frozen=True, slots=True)
class FimTemplate:
    """One family's FIM layout.

    ``prefix``/``suffix``/``middle``: the marker tokens as the tokenizer spells
    them (``middle`` empty: the prompt ends with the prefix, as in Codestral's
    suffix-first layout). ``alternates``: other spellings of a marker in some
    tokenizers of the family (CodeLlama's SentencePiece pieces ``▁<PRE>``...),
    ``marker -> spellings``. ``text_prefix``/``text_suffix``/``text_middle``: the
    text a remote server tokenizes (with CodeLlama's spaces). ``suffix_first``: the
    suffix block comes before the prefix block. ``bos``: the family's prompts start
    with the tokenizer's BOS token. ``stops``: marker tokens that end the middle.
    """

    name: str
    prefix: str
    suffix: str
    middle: str
    suffix_first: bool = False
    bos: bool = False
    stops: tuple[str, ...] = ()
    text_prefix: str | None = None
    text_suffix: str | None = None
    text_middle: str | None = None
    alternates: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def markers(self) -> tuple[str, ...]:
        """The marker tokens detection looks for."""
        return tuple(m for m in (self.prefix, self.suffix, self.middle) if m)

    def spellings(self, marker: str) -> tuple[str, ...]:
        return (marker, *dict(self.alternates).get(marker, ()))

    def text(self, prefix: str, suffix: str) -> str:
        """The prompt as text (for a server that tokenizes it; no BOS: servers add their own)."""
        tp = self.text_prefix if self.text_prefix is not None else self.prefix
        ts = self.text_suffix if self.text_suffix is not None else self.suffix
        tm = self.text_middle if self.text_middle is not None else self.middle
        if self.suffix_first:
            return f"{ts}{suffix}{tp}{prefix}{tm}"
        return f"{tp}{prefix}{ts}{suffix}{tm}"

    def ids(self, markers: dict[str, int], head: Sequence[int], tail: Sequence[int], bos: int | None) -> list[int]:
        """The prompt ids from the prefix's ids ``head`` and the suffix's ids ``tail``."""
        start = [bos] if self.bos and bos is not None else []
        p, s = markers[self.prefix], markers[self.suffix]
        end = [markers[self.middle]] if self.middle else []
        if self.suffix_first:
            return [*start, s, *tail, p, *head, *end]
        return [*start, p, *head, s, *tail, *end]


#: The families mgd knows, in detection order (a tokenizer with several families'
#: markers gets the first; in practice they do not overlap).
TEMPLATES: dict[str, FimTemplate] = {
    t.name: t
    for t in (
        FimTemplate("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", stops=("<file_sep>",)),
        FimTemplate("santacoder", "<fim-prefix>", "<fim-suffix>", "<fim-middle>"),
        FimTemplate("qwen", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>",
                    stops=("<|fim_pad|>", "<|file_sep|>", "<|repo_name|>", "<|endoftext|>")),
        FimTemplate("deepseek", "<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>", bos=True,
                    stops=("<|EOT|>",)),
        FimTemplate("codellama", "<PRE>", "<SUF>", "<MID>", bos=True, stops=("<EOT>", "▁<EOT>"),
                    text_prefix="<PRE> ", text_suffix=" <SUF>", text_middle=" <MID>",
                    alternates=(("<PRE>", ("▁<PRE>",)), ("<SUF>", ("▁<SUF>",)), ("<MID>", ("▁<MID>",)))),
        FimTemplate("codestral", "[PREFIX]", "[SUFFIX]", "", suffix_first=True, bos=True),
    )
}


def get_template(name: str) -> FimTemplate:
    """The template called ``name`` (ConfigError naming the known ones otherwise)."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ConfigError(f"unknown fim_template {name!r}; known: auto, none, {', '.join(TEMPLATES)}") from None


def single_token_ids(template: FimTemplate, token_id: Callable[[str], int | None]) -> dict[str, int] | None:
    """Marker -> id when every marker of ``template`` is one token (``token_id``
    answers None for a string that is not a single token), else None."""
    out: dict[str, int] = {}
    for marker in template.markers:
        found = next((i for i in map(token_id, template.spellings(marker)) if i is not None), None)
        if found is None:
            return None
        out[marker] = found
    return out


def vocab_lookup(tokenizer: Any) -> Callable[[str], int | None]:
    """``token -> id`` for a Hugging Face tokenizer (its vocabulary and added tokens)."""
    vocab = tokenizer.get_vocab()
    return vocab.get


def detect_template(
    token_id: Callable[[str], int | None], names: Iterable[str] | None = None
) -> tuple[FimTemplate, dict[str, int]] | None:
    """The first family (of ``names``, default all) whose markers are all single
    tokens, with the marker ids; None if none is."""
    for name in names if names is not None else TEMPLATES:
        template = TEMPLATES[name]
        ids = single_token_ids(template, token_id)
        if ids is not None:
            return template, ids
    return None


def resolve_template(
    fim: str, name: str, token_id: Callable[[str], int | None]
) -> tuple[FimTemplate | None, dict[str, int], str]:
    """The template a tokenizer gets under the settings ``fim`` (auto/on/off) and
    ``fim_template`` (``auto`` or a family): the template (None: left-to-right
    prompts), its marker ids, and where it came from (for logs and stats)."""
    if fim == "off":
        return None, {}, "fim = off"
    if name != "auto":
        template = get_template(name)
        ids = single_token_ids(template, token_id)
        if ids is None:
            raise ConfigError(f"fim_template = {name!r} but the tokenizer does not have {', '.join(template.markers)} "
                              "as single tokens")
        return template, ids, "configuration"
    found = detect_template(token_id)
    if found is None:
        if fim == "on":
            raise ConfigError("fim = 'on' but the tokenizer has no FIM tokens of a known family "
                              f"({', '.join(TEMPLATES)}); set fim_template or fim = 'off'")
        return None, {}, "the tokenizer has no FIM tokens"
    return found[0], found[1], "the tokenizer's special tokens"
