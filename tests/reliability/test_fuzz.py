"""Hypothesis fuzzing: random prompts and random token streams through every monitor
(built by name from the registry, alone, together, and wrapped for token healing),
and random constraints through the vocabulary index (the real tiny tokenizer).

Invariants: no exception escapes; a constrained row is never empty (an empty
intersection is a counted fallback, the row left free); allowed ids are sorted,
unique and inside the vocabulary; mask, bitmask and id list agree; every id the
index allows obeys the masking rule.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from monitors import base
from monitors.base import CompletionFacts, CompletionNeed, IdentifierConstraint, PrefixConstraint
from monitors.guide import SequenceGuide
from monitors.healing import HealingMonitor, heal_prompt
from monitors.identifiers import IDENT_BYTES
from monitors.languages import LANGUAGES
from monitors.vocab import IdsMemo, VocabIndex

try:  # the registry builds every monitor in KNOWN_MONITORS by name
    from monitors.registry import MONITORS, build_monitors
except ImportError:  # a checkout that predates it: the dereference monitor only
    from monitors.dereference import DereferenceMonitor

    MONITORS = {"dereference": DereferenceMonitor}

    def build_monitors(names, language, prefix):  # type: ignore[no-redef]
        return [DereferenceMonitor(language, prefix)]


SignatureNeed = getattr(base, "SignatureNeed", None)
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def index(tiny_tokenizer: Any) -> VocabIndex:
    return VocabIndex.from_tokenizer(tiny_tokenizer)


# -- strategies ------------------------------------------------------------------------

IDENT_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789$é名"
identifiers = st.builds(str.__add__, st.sampled_from(IDENT_CHARS.replace("0123456789", "")), st.text(IDENT_CHARS, max_size=11))
CODE_PIECES = [".", "..", "::", "->", "?.", "(", ")", "[", "]", "{", "}", ",", ";", ":", "=", " = ", "\n", "\n    ",
               " ", "\t", '"', "'", "`", "#", "//", "/*", "*/", '"""', "new ", "case ", "import ", "from ", "def ",
               "class ", "return ", "self.", "this.", "os.path.", "1.5", "0x1F", "é", "😀", "\\", "\r\n", "f(", "a.b("]
code = st.lists(st.one_of(st.sampled_from(CODE_PIECES), identifiers), max_size=40).map("".join)
languages = st.sampled_from(sorted(LANGUAGES))
monitor_names = st.lists(st.sampled_from(sorted(MONITORS)), min_size=1, max_size=len(MONITORS), unique=True)


def signatures(draw: Any) -> tuple[Any, ...]:
    sig = []
    for params in draw(st.lists(st.lists(identifiers, max_size=4), max_size=3)):
        required = draw(st.integers(0, len(params)))
        maximum = draw(st.one_of(st.none(), st.integers(required, len(params) + 2)))
        sig.append(base.Signature("f(" + ", ".join(params) + ")", tuple(params), required, maximum))
    return tuple(sig)


class DrawnLookup:
    """Answers needs with facts drawn by hypothesis: at once, never, or with an exception."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.needs = 0

    def start(self, need: Any) -> concurrent.futures.Future[Any]:
        self.needs += 1
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        how = self.draw(st.sampled_from(["answer", "answer", "answer", "never", "raise"]))
        if how == "raise":
            fut.set_exception(RuntimeError("lookup blew up"))
        elif how == "answer":
            fut.set_result(self.facts(need))
        return fut

    def facts(self, need: Any) -> Any:
        ok = self.draw(st.booleans())
        if SignatureNeed is not None and isinstance(need, SignatureNeed):
            return base.SignatureFacts(need.serial, signatures(self.draw), ok=ok)
        assert isinstance(need, CompletionNeed)
        names = self.draw(st.frozensets(identifiers, max_size=6))
        return CompletionFacts(need.serial, names, self.draw(st.booleans()), ok)


def check_step(index: VocabIndex, step: Any) -> None:
    event("fallback (row left free)" if step.fallback else "free row" if step.ids is None else "constrained row")
    if step.ids is None:
        return
    ids = step.ids
    assert ids.size > 0, "a fully masked row"
    assert ids.min() >= 0 and ids.max() < index.size
    assert np.all(np.diff(ids) > 0), "ids not sorted/unique"


# -- monitors through the guide ----------------------------------------------------------------


@FUZZ
@given(data=st.data(), language=languages, names=monitor_names, prompt=code, blocking=st.booleans(),
       heal=st.booleans(), steps=st.integers(1, 40))
def test_monitors_never_raise_or_mask_everything(index, data, language, names, prompt, blocking, heal, steps) -> None:
    spec = LANGUAGES[language]
    monitors = build_monitors(names, spec, prompt)
    if heal:
        ids = [i for i in index.ids_of_bytes(prompt.encode())] if prompt else []
        removed = heal_prompt(index, ids).removed if ids else b""
        if removed:
            monitors = [HealingMonitor(removed, inner=m) for m in monitors] or [HealingMonitor(removed)]
    lookup = DrawnLookup(data.draw)
    guide = SequenceGuide(monitors, lookup, index, wait_s=0.0, blocking=blocking)
    for _ in range(steps):
        step = guide.allowed(0.0)
        check_step(index, step)
        how = data.draw(st.sampled_from(["follow", "follow", "random", "code", "fork", "replay"]))
        if how == "follow" and step.ids is not None:
            token = int(step.ids[data.draw(st.integers(0, step.ids.size - 1))])
        elif how == "code":
            token = data.draw(st.sampled_from(index.ids_of_bytes(data.draw(code).encode()) or (0,)))
        else:
            token = data.draw(st.integers(0, index.size - 1))
        if how == "fork":
            guide = guide.fork()
        if how == "replay":
            guide.sync(guide.generated_ids[: data.draw(st.integers(0, len(guide.generated_ids)))])
        guide.advance([token])
    report = guide.report()
    assert all(isinstance(v, (int, float)) for v in report.values())
    assert report["fallbacks"] >= 0 and report["constrained_steps"] <= steps + 1


@FUZZ
@given(language=languages, names=monitor_names, prompt=code, chunks=st.lists(st.binary(max_size=6), max_size=30))
def test_monitors_take_arbitrary_bytes(language, names, prompt, chunks) -> None:
    """Raw byte chunks (invalid UTF-8 included) fed straight to each monitor, facts never given."""
    for monitor in build_monitors(names, LANGUAGES[language], prompt):
        for chunk in chunks:
            monitor.feed(chunk)
            monitor.need()
            monitor.constraint()
        copy = monitor.fork()
        copy.feed(b".")
        assert isinstance(monitor.stats.as_dict(), dict)


# -- the vocabulary index ------------------------------------------------------------------


def lead_ident(data: bytes) -> bytes:
    n = 0
    while n < len(data) and data[n] in IDENT_BYTES:
        n += 1
    return data[:n]


def check_views(index: VocabIndex, c: Any) -> np.ndarray:
    ids = index.allowed_ids(c)
    assert ids.dtype.kind == "i" and (ids.size == 0 or (ids.min() >= 0 and ids.max() < index.size))
    assert np.all(np.diff(ids) > 0)
    assert np.array_equal(index.allowed_ids(c, memo=IdsMemo()), ids)
    width = index.size + 37  # a padded logits row
    mask = index.mask(c, width)
    assert np.array_equal(np.flatnonzero(mask), ids)
    bits = np.unpackbits(index.bitmask(c, width).view(np.uint8), bitorder="little")[:width].astype(bool)
    assert np.array_equal(bits, mask)
    return ids


name_bytes = identifiers.map(lambda s: s.encode())


@settings(max_examples=200, deadline=None, derandomize=True)
@given(candidates=st.frozensets(name_bytes, min_size=1, max_size=8), cut=st.integers(0, 12), pick=st.integers(0, 7))
def test_identifier_constraint_follows_the_rule(index, candidates, cut, pick) -> None:
    chosen = sorted(candidates)[pick % len(candidates)]
    c = IdentifierConstraint(candidates, chosen[: min(cut, len(chosen))])
    ids = check_views(index, c)
    for tid in ids.tolist():
        if tid in index.eos_ids:
            assert c.typed in candidates  # EOS only once a name is complete
            continue
        s = c.typed + index.token_bytes(tid)
        head = lead_ident(s)
        assert any(k.startswith(s) for k in candidates) or (head in candidates and len(head) < len(s)), s
    if any(len(k) > len(c.typed) and k.startswith(c.typed) for k in candidates):
        assert ids.size > 0, "a candidate can still be spelled, yet nothing is allowed"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(required=st.binary(min_size=1, max_size=8), then=st.one_of(st.none(), st.frozensets(name_bytes, min_size=1,
                                                                                             max_size=4)))
def test_prefix_constraint_follows_the_rule(index, required, then) -> None:
    c = PrefixConstraint(required, IdentifierConstraint(then) if then else None)
    ids = check_views(index, c)
    for tid in ids.tolist():
        tok = index.token_bytes(tid)
        assert tok and (tok.startswith(required) or required.startswith(tok)), (tok, required)
        assert tid not in index.special_ids


@settings(max_examples=80, deadline=None, derandomize=True)
@given(data=st.data())
def test_other_constraints_are_well_formed(index, data) -> None:
    """Every other constraint kind the index knows, with random fields."""
    kinds = []
    if hasattr(base, "SpacedConstraint"):
        kinds.append(lambda: base.SpacedConstraint(
            IdentifierConstraint(data.draw(st.frozensets(name_bytes, min_size=1, max_size=4))), data.draw(st.booleans())))
    if hasattr(base, "ExcludeConstraint"):
        kinds.append(lambda: base.ExcludeConstraint(
            data.draw(st.frozensets(st.sampled_from(list(b"()[]{},;\"'`#")), max_size=4)),
            data.draw(st.one_of(st.none(), st.frozensets(name_bytes, max_size=4))),
            data.draw(st.binary(max_size=4)), data.draw(st.booleans())))
    if not kinds:
        pytest.skip("this checkout has only identifier and prefix constraints")
    c = data.draw(st.sampled_from(kinds))()
    check_views(index, c)
