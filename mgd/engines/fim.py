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
starcoder-spm  ``<fim_prefix><fim_suffix>S<fim_middle>P`` (SPM)         no
santacoder-spm ``<fim-prefix><fim-suffix>S<fim-middle>P`` (SPM)         no
============== ======================================================= =======

(StarCoder2 shares StarCoder's markers; CodeGemma shares Qwen's.) The ``-spm``
layouts are the suffix-prefix-middle mode of the BigCode training recipe
(``fim_spm_rate`` 0.5: StarCoder and SantaCoder learn both modes). Detection finds
the family by its markers (:func:`detect_template`); ``fim_template = "auto"`` then
takes the family's preferred layout (:data:`PREFERRED`): SPM for the BigCode
families, whose prompt ends with the prefix as typed (token healing re-spells it
as in a left-to-right prompt, and while the user types at the cursor the prompt's
first tokens, the suffix, stay the same); on the tiny test model, PSM prompts
make the target far less likely than left-to-right ones and SPM slightly more
(``benchmarks/fim_layouts.py``, ``benchmarks/results/fim_layouts.json``). A family
name (``starcoder``) picks PSM explicitly.

A family is detected when every one of its marker tokens is a single token of the
tokenizer (:func:`detect_template`); for a remote server the same question is
asked of its ``/tokenize`` endpoint (:mod:`mgd.editor.remote_engine`). ``fim_template``
(``[editor]``, ``mgd generate --fim-template``) overrides the detection.

Every engine prompts through one :class:`FimPrompter` (batch generation, vLLM
offline, the remote engine, ``mgd serve`` for a request with a ``suffix``; the
editor's local engine): the model sees prefix and suffix in its family's layout,
while the monitors always see the document (the prefix as typed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from monitors.errors import ConfigError

__all__ = [
    "FIM_MODES",
    "PREFERRED",
    "TEMPLATES",
    "FimPrompter",
    "FimTemplate",
    "detect_template",
    "get_template",
    "preferred",
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
    suffix block comes before the prefix block. ``spm``: StarCoder's SPM order, both
    markers first, then the suffix, the middle marker and the prefix. ``bos``: the family's prompts start
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
    spm: bool = False

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
        if self.spm:
            return f"{tp}{ts}{suffix}{tm}{prefix}"
        if self.suffix_first:
            return f"{ts}{suffix}{tp}{prefix}{tm}"
        return f"{tp}{prefix}{ts}{suffix}{tm}"

    def ids(self, markers: dict[str, int], head: Sequence[int], tail: Sequence[int], bos: int | None) -> list[int]:
        """The prompt ids from the prefix's ids ``head`` and the suffix's ids ``tail``."""
        start = [bos] if self.bos and bos is not None else []
        p, s = markers[self.prefix], markers[self.suffix]
        end = [markers[self.middle]] if self.middle else []
        if self.spm:
            return [*start, p, s, *tail, *end, *head]
        if self.suffix_first:
            return [*start, s, *tail, p, *head, *end]
        return [*start, p, *head, s, *tail, *end]

    def head_span(self, markers: dict[str, int], ids: Sequence[int]) -> tuple[int, int] | None:
        """Where the prefix block of a prompt built by :meth:`ids` lies (``ids[a:b]``);
        None when ``ids`` is not such a prompt (a left-to-right one). A family's PSM and
        SPM layouts read each other's prompts (SPM: the suffix marker right after the
        prefix marker, the prefix after the middle marker), so a reader that detects the
        layout (the vLLM core) finds the prefix whichever one a caller chose."""
        p, s = markers.get(self.prefix), markers.get(self.suffix)
        if p is None or s is None:
            return None
        seq = list(ids)
        try:
            a = len(seq) - 1 - seq[::-1].index(p)
        except ValueError:
            return None
        if self.suffix_first:
            b = len(seq) - (1 if self.middle and seq and seq[-1] == markers.get(self.middle) else 0)
            return a + 1, b
        try:
            b = seq.index(s, a + 1)
        except ValueError:
            return None
        m = markers.get(self.middle) if self.middle else None
        if b == a + 1 and m is not None and m in seq[b:]:  # SPM (or an empty PSM prefix: nothing after m)
            return len(seq) - seq[::-1].index(m), len(seq)
        return a + 1, b


#: The ``fim`` settings: FIM when the tokenizer has a family's markers, FIM required, left-to-right.
FIM_MODES = ("auto", "on", "off")


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
        FimTemplate("starcoder-spm", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", stops=("<file_sep>",), spm=True),
        FimTemplate("santacoder-spm", "<fim-prefix>", "<fim-suffix>", "<fim-middle>", spm=True),
    )
}


@dataclass(frozen=True, slots=True)
class FimPrompter:
    """One tokenizer's resolved FIM layout: its template and marker ids (template None:
    left-to-right prompts). Built by :meth:`resolve` from the ``fim``/``fim_template``
    settings; :meth:`split` shares a prompt budget between prefix and suffix."""

    template: FimTemplate | None
    markers: dict[str, int]
    source: str
    bos: int | None = None
    stop_ids: tuple[int, ...] = ()

    @classmethod
    def resolve(cls, tokenizer: Any, fim: str = "auto", name: str = "auto") -> FimPrompter:
        """The layout ``tokenizer`` gets under ``fim`` (auto/on/off) and ``fim_template``."""
        lookup = vocab_lookup(tokenizer)
        template, markers, source = resolve_template(fim, name, lookup)
        stops = tuple(i for t in (template.stops if template else ()) if (i := lookup(t)) is not None)
        return cls(template, markers, source, getattr(tokenizer, "bos_token_id", None), stops)

    @property
    def overhead(self) -> int:
        """Prompt tokens the layout adds (markers and BOS)."""
        if self.template is None:
            return 0
        return len(self.template.markers) + (1 if self.template.bos and self.bos is not None else 0)

    def split(self, head: Sequence[int], tail: Sequence[int], budget: int,
              max_suffix: int | None = None) -> tuple[list[int], list[int]]:
        """The prefix's last and the suffix's first tokens that fit ``budget`` (markers
        included): the suffix gets up to ``max_suffix`` tokens (None: a quarter of the
        budget) and whatever the prefix leaves; the prefix the rest."""
        room = max(1, budget - self.overhead)
        share = room // 4 if max_suffix is None else max_suffix
        take = max(0, min(len(tail), max(share, room - len(head)), room - 1))
        keep = room - take
        return list(head[-keep:]) if len(head) > keep else list(head), list(tail[:take])

    def ids(self, head: Sequence[int], tail: Sequence[int]) -> list[int]:
        """The prompt ids (``head`` alone without a template)."""
        if self.template is None:
            return list(head)
        return self.template.ids(self.markers, head, tail, self.bos)

    def head_of(self, ids: Sequence[int]) -> list[int]:
        """The prefix block of a prompt (all of ``ids`` when it is not a FIM prompt)."""
        span = self.template.head_span(self.markers, ids) if self.template is not None else None
        return list(ids) if span is None else list(ids[span[0] : span[1]])


#: The layout ``fim_template = "auto"`` takes for a detected family (others: the family's own).
PREFERRED: dict[str, str] = {"starcoder": "starcoder-spm", "santacoder": "santacoder-spm"}


def preferred(template: FimTemplate) -> FimTemplate:
    """The layout ``auto`` uses for a detected family (same markers)."""
    return TEMPLATES[PREFERRED.get(template.name, template.name)]


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
    """The first family (of ``names``, default all PSM ones) whose markers are all
    single tokens, with the marker ids; None if none is."""
    for name in names if names is not None else [n for n, t in TEMPLATES.items() if not t.spm]:
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
    return preferred(found[0]), found[1], "the tokenizer's special tokens"
