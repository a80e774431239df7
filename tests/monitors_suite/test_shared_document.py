"""One document per sequence: the monitors built together read one Document.

``build_monitors`` gives every monitor of a sequence one :class:`~monitors.document.Document`;
the guide forks it once per fork (each fork's monitors read the fork's), and a rollback
replays into one document. The decisions are those of monitors that each keep a
document of their own (built one by one): compared step by step on tricky texts.
No server, no model.
"""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

from monitors.base import (
    CompletionFacts,
    Facts,
    Need,
    Signature,
    SignatureFacts,
    SignatureNeed,
    documents_of,
    fork_monitors,
)
from monitors.calls import ArgumentCountMonitor, KeywordArgumentMonitor
from monitors.completion_sites import IMPORTS, SiteMonitor
from monitors.dereference import DereferenceMonitor
from monitors.guide import SequenceGuide
from monitors.healing import wrap_healing
from monitors.languages import get_language
from monitors.registry import build_monitors
from monitors.syntax import SyntaxMonitor
from monitors.vocab import VocabIndex

PY = get_language("python")
JAVA = get_language("java")
_WORDS = [b"self.", b"self", b"def ", b"return ", b"    ", b"\n", b"(", b")", b"\"", b"'", b"\"\"\"", b"f\"", b"{",
          b"}", b"x.", b".append(", b"print(", b"area", b"radius", b", ", b"=", b" # ", b"new ", b"String", b"();"]
_TOKENS: list[bytes | None] = [bytes([b]) for b in range(256)] + _WORDS + [None]
INDEX = VocabIndex.from_token_bytes(_TOKENS, eos_ids=[len(_TOKENS) - 1])


def _ids(text: str) -> list[int]:
    """Greedy longest-match tokens of ``text`` in the small vocabulary."""
    data = text.encode()
    by_bytes = {t: i for i, t in enumerate(_TOKENS) if t is not None}
    out: list[int] = []
    i = 0
    while i < len(data):
        n = max(n for n in range(1, 6) if data[i : i + n] in by_bytes)
        out.append(by_bytes[data[i : i + n]])
        i += n
    return out


class _Lookup:
    """Answers at once: completions with fixed names, a signature for every call."""

    def start(self, need: Need) -> concurrent.futures.Future[Facts]:
        fut: concurrent.futures.Future[Facts] = concurrent.futures.Future()
        if isinstance(need, SignatureNeed):
            fut.set_result(SignatureFacts(need.serial, (Signature("f(a, b=1, *, key=2)", ("a", "b=1", "*", "key=2"),
                                                                   1, 2),)))
        else:
            fut.set_result(CompletionFacts(need.serial, frozenset({"append", "area", "radius", "items", "String"})))
        return fut


PY_NAMES = ["dereference", "imports", "arguments", "keyword_arguments", "definition_sites", "syntax"]
PY_PREFIX = 'class C:\n    def f(self, x):\n        s = "a.b(" + f"{x.'
PY_TEXT = ('real}"\n        print(x.area, \'(\', radius=2)  # x.(\n        self.total = x.append(1, (2, 3), key=4)\n'
           '        return """doc.(""" + str(x.radius)\n')


def test_monitors_built_together_read_one_document() -> None:
    mons = build_monitors(PY_NAMES, PY, PY_PREFIX, "", ["\ndef "])
    assert len(mons) == 5  # definition_sites replaces dereference
    (doc,) = documents_of(mons)
    assert all(m.document is doc for m in mons)
    assert doc.text == PY_PREFIX
    healed = wrap_healing(mons, b"x.")
    assert documents_of(healed) == [doc]


def test_the_guide_forks_and_rolls_back_one_document() -> None:
    guide = SequenceGuide(build_monitors(PY_NAMES, PY, PY_PREFIX, "", ["\ndef "]), _Lookup(), INDEX)
    (start,) = guide.documents
    assert start.text == PY_PREFIX
    ids = _ids(PY_TEXT)
    half = len(ids) // 2
    for t in ids[:half]:
        guide.allowed()
        guide.advance([t])
    (doc,) = guide.documents  # fed once: the text holds each token once
    written = b"".join(INDEX.token_bytes(t) for t in ids[:half]).decode()
    assert doc.text == PY_PREFIX + written
    assert doc is start

    fork = guide.fork()
    (forked,) = fork.documents
    assert forked is not doc and forked.text == doc.text
    for t in ids[half:]:
        fork.allowed()
        fork.advance([t])
    assert forked.text == PY_PREFIX + PY_TEXT
    assert guide.documents == [doc] and doc.text == PY_PREFIX + written  # the original is unaffected

    guide.rollback(3)
    (back,) = guide.documents
    assert back.text == PY_PREFIX + b"".join(INDEX.token_bytes(t) for t in ids[: half - 3]).decode()
    guide.restore(fork)
    (restored,) = guide.documents
    assert restored is not forked and restored.text == forked.text


def test_fork_monitors_forks_the_document_once() -> None:
    mons = build_monitors(PY_NAMES, PY, PY_PREFIX)
    forks = fork_monitors(mons)
    (doc,) = documents_of(forks)
    assert doc is not mons[0].document
    alone = mons[0].fork()  # a monitor forked alone gets a document of its own
    assert alone.document is not mons[0].document and alone.document is not doc


def _separate(language, names: list[str], prefix: str, suffix: str, stops: list[str]) -> list:
    """The same monitors as build_monitors, each built alone (a document of its own)."""
    build = {
        "dereference": lambda: DereferenceMonitor(language, prefix, definition_sites="definition_sites" in names),
        "imports": lambda: SiteMonitor(IMPORTS, language, prefix),
        "arguments": lambda: ArgumentCountMonitor(language, prefix),
        "keyword_arguments": lambda: KeywordArgumentMonitor(language, prefix),
        "syntax": lambda: SyntaxMonitor(language, prefix, suffix, stops),
    }
    defsites = "definition_sites" in names  # (built in its place: after the call monitors)
    order = ["imports", "arguments", "keyword_arguments", "dereference", "syntax"] if defsites else list(build)
    return [build[n]() for n in order if n in names or (n == "dereference" and defsites)]


_CASES = [
    (PY, PY_NAMES, PY_PREFIX, PY_TEXT, "", ["\ndef "]),
    (PY, PY_NAMES, "def g(x):\n    y = max(x.", "radius, '''a(\n.b''', f\"{x.area(}\" if x else (1,\n"
     "        2))\n    return y.area + x.radius(\n", ")", []),
    (PY, PY_NAMES, "import os.", "path\nfrom os import (path,\n    sep)\nx = os.path.join('a.', \"b(\")\n", "", []),
    (JAVA, ["dereference", "arguments", "syntax"], "class A {\n  void f(String s) {\n    int n = s.",
     "length() + g(s.trim(), '(', \"a.b(\");\n    /* x.( */ s.charAt(1);\n  }\n}\n", "", []),
]


@pytest.mark.parametrize("case", range(len(_CASES)))
def test_shared_decisions_equal_own_documents(case: int) -> None:
    language, names, prefix, text, suffix, stops = _CASES[case]
    together = build_monitors(names, language, prefix, suffix, stops)
    alone = _separate(language, names, prefix, suffix, stops)
    assert [type(m) for m in together] == [type(m) for m in alone]
    shared = SequenceGuide(together, _Lookup(), INDEX, max_tokens=400)
    own = SequenceGuide(alone, _Lookup(), INDEX, max_tokens=400)
    assert len(shared.documents) == 1 and len(own.documents) == len(alone)
    ids = _ids(text)
    for k, t in enumerate(ids):
        a, b = shared.allowed(), own.allowed()
        assert (a.ids is None) == (b.ids is None), k
        if a.ids is not None and b.ids is not None:
            assert np.array_equal(a.ids, b.ids), (k, text.encode()[:k])
        assert a.fallback == b.fallback
        if k == len(ids) // 2:  # forks decide alike too
            assert shared.fork().validate_tokens(ids[k:]) == own.fork().validate_tokens(ids[k:])
        shared.advance([t])
        own.advance([t])
    report = shared.report()
    assert report == own.report()
    assert report["triggers"] > 0 and report["constrained_steps"] > 0


def test_monitors_fed_out_of_step_keep_their_own_text() -> None:
    """Monitors of one document fed one after the other (not token by token together)
    decide as if each had its own: a late reader takes a private copy."""
    prefix = "x = g(a, "
    mons = build_monitors(["arguments", "syntax"], PY, prefix)
    alone = _separate(PY, ["arguments", "syntax"], prefix, "", [])
    data = [INDEX.token_bytes(t) for t in _ids("b, (c)) + f(")]
    for m in (mons[0], alone[0]):
        for d in data:
            m.feed(d)
    for m, a in zip(mons[1:], alone[1:], strict=True):
        for d in data:
            assert m.constraint() == a.constraint()
            m.feed(d)
            a.feed(d)
        assert m.constraint() == a.constraint()
    assert mons[0].constraint() == alone[0].constraint()
