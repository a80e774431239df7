"""Shared LSP requests (the session's request cache, import listings) and lookup prefetch.

The cache's sharing rules are checked against a real jedi-language-server: a
shared answer must be the answer the server gives to the second document itself.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import pytest
import torch

from lsp_bridge import BackgroundLoop, ServerPool, preset
from lsp_bridge.lookup import BridgeLookup, DocumentContext, RequestCache, import_statement
from mgd.engines.hf import MonitorPrefetch
from monitors.base import CompletionFacts, CompletionNeed, SignatureNeed
from monitors.dereference import DereferenceMonitor
from monitors.errors import ConfigError
from monitors.guide import SequenceGuide
from monitors.languages import get_language
from monitors.vocab import VocabIndex

PYPROJ = Path(__file__).resolve().parent / "fixtures" / "pyproj"
SHAPES = "from geometry.shapes import Circle\n\n\ndef main():\n    c = Circle(1.0)\n    return c."


def doc(prefix: str, name: str = "cache_a.py", suffix: str = "") -> DocumentContext:
    return DocumentContext(PYPROJ, PYPROJ / name, prefix, suffix)


def need_at_end(generated: str, serial: int = 1) -> CompletionNeed:
    return CompletionNeed(len(generated), generated, serial)


# ------------------------------------------------------------------ import statements


@pytest.mark.parametrize(
    ("prefix", "generated", "statement"),
    [
        ("", "from geometry.", "from geometry."),
        ("x = 1\nfrom geometry", ".sh", "from geometry.sh"),  # the line starts in the prompt
        ("", "import os, sys\nimport geometry.", "import geometry."),
        ("", "from geometry.shapes import Circle, Sq", "from geometry.shapes import Circle, Sq"),
        ("", "from geometry.shapes import Circle as C, ", "from geometry.shapes import Circle as C, "),
        ("", "    from . import ", "    from . import "),
        ("", "c = Circle(1)\nc.", None),
        ("", "from geometry.shapes import (Circle,\n    Sq", None),  # multi-line: not shared
        ("", "x = 'from a.", None),
    ],
)
def test_import_statement_python(prefix: str, generated: str, statement: str | None) -> None:
    assert import_statement(doc(prefix), need_at_end(generated)) == statement


def test_import_statement_java_and_other_languages() -> None:
    java = DocumentContext(PYPROJ, PYPROJ / "A.java", "package p;\n", "")
    assert import_statement(java, need_at_end("import java.util.")) == "import java.util."
    assert import_statement(java, need_at_end("import static java.lang.Math.")) == "import static java.lang.Math."
    assert import_statement(java, need_at_end("x.")) is None
    ts = DocumentContext(PYPROJ, PYPROJ / "a.ts", "", "")
    assert import_statement(ts, need_at_end("import a.")) is None
    # The configuration's routing wins over the extension (mgd.toml: .pyw files are Python).
    pyw = DocumentContext(PYPROJ, PYPROJ / "tool.pyw", "", "", "python")
    assert import_statement(pyw, need_at_end("from os import pa")) == "from os import pa"
    assert import_statement(DocumentContext(PYPROJ, PYPROJ / "tool.pyw", "", ""), need_at_end("from os import pa")) is None
    assert import_statement(doc(""), SignatureNeed(len("from a."), "from a.", 1)) is None


# ------------------------------------------------------------------ the cache itself


def answered(value: object = "x") -> concurrent.futures.Future[object]:
    fut: concurrent.futures.Future[object] = concurrent.futures.Future()
    fut.set_result(value)
    return fut


def test_cache_hits_and_bounded_lru() -> None:
    cache = RequestCache(max_entries=2)
    a, shared = cache.acquire("a", answered)
    assert not shared and (cache.hits, cache.misses) == (0, 1)
    again, shared = cache.acquire("a", lambda: pytest.fail("a hit must not start a request"))
    assert shared and again is a and cache.hits == 1
    cache.acquire("b", answered)
    cache.acquire("a", answered)  # a is now the most recent
    cache.acquire("c", answered)  # evicts b, the least recent
    assert len(cache) == 2 and "a" in cache and "c" in cache and "b" not in cache


def test_cache_expiry_and_forget() -> None:
    now = [0.0]
    cache = RequestCache(ttl_s=10.0, clock=lambda: now[0])
    done, _ = cache.acquire("done", answered)
    running, _ = cache.acquire("running", concurrent.futures.Future)
    now[0] = 11.0
    assert "done" not in cache  # answered too long ago: asked again
    assert cache.acquire("running", answered)[0] is running  # a running request never expires
    fresh, shared = cache.acquire("done", answered)
    assert not shared and fresh is not done
    cache.forget("done", done)  # not the current entry: kept
    assert "done" in cache
    cache.forget("done", fresh)
    assert "done" not in cache
    with pytest.raises(ConfigError):
        RequestCache(max_entries=0)


def test_cache_release_cancels_only_the_last_abandoned_caller() -> None:
    cache = RequestCache()
    fut, _ = cache.acquire("k", concurrent.futures.Future)
    cache.acquire("k", concurrent.futures.Future)
    assert not cache.release("k", fut, abandoned=True)  # another caller still waits
    assert cache.release("k", fut, abandoned=True)  # the last one: cancel it
    assert "k" not in cache


# ------------------------------------------------------------------ against jedi


@pytest.fixture(scope="module")
def bridge():
    loop = BackgroundLoop()
    loop.start()
    pool = ServerPool()
    yield loop, pool, preset("jedi")
    try:
        loop.run(pool.close(), timeout=30.0)
    finally:
        loop.close()


def lookup(bridge, document: DocumentContext, cache: RequestCache | None) -> BridgeLookup:
    loop, pool, spec = bridge
    return BridgeLookup(loop, pool, spec, document, timeout_s=60.0, cache=cache)


def names(lk: BridgeLookup, need: CompletionNeed) -> frozenset[str]:
    facts = lk.start(need).result(timeout=90)
    assert isinstance(facts, CompletionFacts) and facts.ok
    return facts.names


def test_import_listing_is_shared_across_documents(bridge) -> None:
    cache = RequestCache()
    first = lookup(bridge, doc("import os\n\n"), cache)
    second = lookup(bridge, doc("def f():\n    return 1\n\n\n"), cache)
    line = "from geometry."
    a = names(first, need_at_end(line))
    b = names(second, need_at_end(line, serial=5))
    assert "shapes" in a and a == b
    assert (first.requests, second.requests, second.shared) == (1, 0, 1)
    assert first.sent == {"import": 1}
    # The shared answer is what the server says about the second document itself.
    assert names(lookup(bridge, doc("def f():\n    return 1\n\n\n"), None), need_at_end(line)) == b
    # Another statement, or the same one in another file (relative imports differ): asked.
    other = lookup(bridge, doc("import os\n\n"), cache)
    assert "Circle" in names(other, need_at_end("from geometry.shapes import "))
    elsewhere = lookup(bridge, doc("import os\n\n", name="cache_b.py"), cache)
    names(elsewhere, need_at_end(line))
    assert (other.requests, elsewhere.requests, elsewhere.shared) == (1, 1, 0)


def test_other_requests_are_keyed_by_the_whole_document(bridge) -> None:
    cache = RequestCache()
    first = lookup(bridge, doc(SHAPES, suffix="\n"), cache)
    same = lookup(bridge, doc(SHAPES, suffix="\n"), cache)
    assert "radius" in names(first, need_at_end(""))
    names(same, need_at_end("", serial=3))
    assert (same.requests, same.shared) == (0, 1)  # another guide, same document: shared
    # A changed document (here only the text after the cursor) is asked again.
    changed = lookup(bridge, doc(SHAPES, suffix="\n\nx = 1\n"), cache)
    names(changed, need_at_end(""))
    assert (changed.requests, changed.shared) == (1, 0)
    call = "def box(width, height, depth=1):\n    return width\n\n\nb = box("
    sig = [lookup(bridge, doc(call, name="cache_c.py"), cache) for _ in range(2)]
    facts = [lk.start(SignatureNeed(0, "", 1)).result(timeout=90) for lk in sig]
    assert facts[0].ok and facts[0].signatures == facts[1].signatures
    assert (sig[1].requests, sig[1].shared, sig[0].sent) == (0, 1, {"signature": 1})


# ------------------------------------------------------------------ prefetch


class RecordingLookup:
    """Answers every need with no names, and records when it was asked."""

    def __init__(self) -> None:
        self.needs: list[CompletionNeed] = []

    def start(self, need: CompletionNeed) -> concurrent.futures.Future[CompletionFacts]:
        self.needs.append(need)
        return answered(CompletionFacts(need.serial, frozenset({"radius"})))  # type: ignore[return-value]


def test_prefetch_starts_the_lookup_before_the_next_step(tiny_tokenizer) -> None:
    index = VocabIndex.from_tokenizer(tiny_tokenizer)
    dot = tiny_tokenizer.convert_tokens_to_ids(".")
    prompt = [7, 8, 9]
    rows = torch.tensor([prompt + [dot]])
    for max_new, expected in ((4, 1), (1, 0)):  # no lookup after the last token
        lk = RecordingLookup()
        guide = SequenceGuide([DereferenceMonitor(get_language("python"), "c = 1\nc")], lk, index)
        stop = MonitorPrefetch([guide], len(prompt), max_new)(rows, torch.zeros(1, 10))
        assert stop.dtype == torch.bool and not stop.any()
        assert len(lk.needs) == expected
        assert guide.generated_ids == ([dot] if expected else [])


def test_gated_lookup_does_not_hold_its_gate_while_its_server_starts(bridge, tmp_path: Path) -> None:
    """One gate for several servers (``mgd serve --lsp-cpus``): a lookup whose server is still
    starting waits for it outside the gate (a lookup to a running server is sent meanwhile)
    and counts the start into its estimate, so a step with a short budget does not wait for it."""
    import shutil

    from lsp_bridge.gate import LookupGate

    loop, pool, spec = bridge
    other = tmp_path / "other"
    shutil.copytree(PYPROJ, other)
    loop.run(pool.get(spec, PYPROJ), timeout=90.0)  # this one is up, the other not
    gate = LookupGate(1)
    cold = BridgeLookup(loop, pool, spec, DocumentContext(other, other / "cache_g.py", SHAPES, ""), timeout_s=60.0,
                        cache=RequestCache(), gate=gate)
    warm = BridgeLookup(loop, pool, spec, doc(SHAPES, "cache_g.py"), timeout_s=60.0, cache=RequestCache(), gate=gate)
    late = cold.start(need_at_end(""))
    eta = cold.eta_s(late)  # a jedi start is known from the first server: about that long
    assert eta is not None and eta > 0.05
    soon = warm.start(need_at_end(""))
    assert gate.waiting == 0  # sent at once: the cold lookup does not hold the gate
    assert {"radius", "area"} <= soon.result(timeout=90).names
    facts = late.result(timeout=90)
    assert facts.ok and {"radius", "area"} <= facts.names
    assert cold.eta_s(late) is None or cold.eta_s(late) == 0.0
