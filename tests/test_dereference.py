"""DereferenceMonitor: the state machine, with hand-made CompletionFacts."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from monitors.base import CompletionFacts, CompletionNeed, IdentifierConstraint, Monitor
from monitors.dereference import DereferenceMonitor
from monitors.identifiers import IDENT_BYTES
from monitors.languages import get_language
from monitors.triggers import TriggerDetector

PY = get_language("python")
STDLIB = Path(sysconfig.get_paths()["stdlib"])

PROMPT = (
    "import math\n"
    "\n"
    "class Circle:\n"
    "    def __init__(self, radius):\n"
    "        self.radius = radius\n"
    "\n"
    "    def area(self):\n"
    "        return math.pi * self.radius ** 2\n"
    "\n"
    "def total_area(circles):\n"
    "    total = 0\n"
    "    for c in circles:\n"
    "        total += "
)
MEMBERS = frozenset({"area", "radius", "rescale", "__init__", "__class__"})


def feed_all(m: DereferenceMonitor, *tokens: bytes | str) -> None:
    for tok in tokens:
        m.feed(tok.encode() if isinstance(tok, str) else tok)


def facts(need: CompletionNeed | None, names=MEMBERS, **kw) -> CompletionFacts:
    assert need is not None
    return CompletionFacts(serial=need.serial, names=frozenset(names), **kw)


def cands(m: DereferenceMonitor) -> set[str]:
    c = m.constraint()
    assert c is not None
    return {x.decode() for x in c.candidates}


# ---------------------------------------------------------------- the main walk


def test_is_a_monitor() -> None:
    m = DereferenceMonitor(PY, PROMPT)
    assert isinstance(m, Monitor)
    assert m.need() is None and m.constraint() is None and m.state == "idle"


def test_full_walk_accepts_area_call() -> None:
    m = DereferenceMonitor(PY, PROMPT)
    m.feed(b"c")
    assert m.need() is None
    m.feed(b".")
    need = m.need()
    assert need == CompletionNeed(offset=2, generated="c.", serial=need.serial)
    assert m.need() is need  # stays the same until provided
    assert m.state == "waiting" and m.constraint() is None
    assert m.stats.triggers == 1 and m.stats.late_triggers == 0

    m.provide(facts(need))
    assert m.need() is None and m.state == "active"
    c = m.constraint()
    assert c == IdentifierConstraint(frozenset(n.encode() for n in MEMBERS), b"")
    assert m.constraint() is c  # cached until something changes

    m.feed(b"ar")
    assert m.constraint() == IdentifierConstraint(frozenset({b"area"}), b"ar")
    m.feed(b"ea(")
    assert m.state == "idle" and m.constraint() is None and m.need() is None
    assert m.stats.extra["accepted"] == 1 and m.stats.extra["violations"] == 0


def test_constraint_narrows_and_radius_paren_accepts() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")  # the dot ends the prompt
    need = m.need()
    assert need is not None and need.offset == 0 and need.generated == ""
    m.provide(facts(need))
    assert cands(m) == set(MEMBERS)
    m.feed(b"r")
    assert cands(m) == {"radius", "rescale"}
    m.feed(b"a")
    assert cands(m) == {"radius"}
    m.feed(b"dius")
    assert m.constraint() == IdentifierConstraint(frozenset({b"radius"}), b"radius")
    m.feed(b")")
    assert m.stats.extra["accepted"] == 1 and m.state == "idle"


def test_prompt_ending_inside_identifier_is_a_late_trigger() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.ra")
    need = m.need()
    assert need is not None and need.offset == 0 and need.generated == ""
    assert m.typed == b"ra" and m.stats.late_triggers == 1
    m.provide(facts(need))
    assert m.constraint() == IdentifierConstraint(frozenset({b"radius"}), b"ra")


def test_token_with_dot_and_identifier_is_a_late_trigger() -> None:
    m = DereferenceMonitor(PY, "d = {}\nv = d")
    m.feed(b".get")
    need = m.need()
    assert need is not None and need.offset == 4 and need.generated == ".get"
    assert m.typed == b"get" and m.stats.late_triggers == 1
    m.provide(facts(need, {"get", "getattr_x", "keys"}))
    assert cands(m) == {"get", "getattr_x"}
    m.feed(b"(")
    assert m.stats.extra["accepted"] == 1


def test_healed_token_x_dot_ge() -> None:
    m = DereferenceMonitor(PY, "y = ")
    m.feed(b"x.ge")
    assert m.need() is not None and m.typed == b"ge" and m.stats.late_triggers == 1


def test_call_then_dot_in_one_token_retriggers() -> None:
    m = DereferenceMonitor(PY, PROMPT)
    feed_all(m, "c", ".")
    m.provide(facts(m.need()))
    m.feed(b"area")
    m.feed(b"().")
    assert m.stats.extra["accepted"] == 1
    need = m.need()
    assert need is not None and need.generated == "c.area()." and m.stats.triggers == 2


def test_chain_in_one_token_triggers_on_last_dot() -> None:
    m = DereferenceMonitor(PY, "x = ")
    m.feed(b"a.b.")
    need = m.need()
    assert need is not None and need.offset == 4 and m.stats.triggers == 1


def test_identifier_then_dot_in_active_state_chains() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    m.provide(facts(m.need()))
    m.feed(b"radius.real")
    assert m.stats.extra["accepted"] == 1
    assert m.state == "waiting" and m.typed == b"real" and m.stats.late_triggers == 1


# ---------------------------------------------------------------- violations, failures


def test_violation_when_typed_leaves_every_candidate() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    m.provide(facts(m.need()))
    m.feed(b"z")
    assert m.state == "idle" and m.constraint() is None
    assert m.stats.extra["violations"] == 1


def test_violation_when_identifier_ends_on_a_mere_prefix() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    m.provide(facts(m.need()))
    m.feed(b"rad")
    m.feed(b")")
    assert m.stats.extra["violations"] == 1 and m.stats.extra["accepted"] == 0


def test_stale_serial_is_ignored() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    need = m.need()
    assert need is not None
    m.provide(CompletionFacts(serial=need.serial + 7, names=MEMBERS))
    assert m.state == "waiting" and m.need() is need and m.stats.extra["stale_facts"] == 1
    m.provide(facts(need))
    assert m.state == "active"
    m.provide(facts(need))  # answered already: stale
    assert m.stats.extra["stale_facts"] == 2 and m.state == "active"


def test_failure_fails_open() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    m.provide(facts(m.need(), frozenset(), ok=False))
    assert m.state == "idle" and m.constraint() is None and m.need() is None
    assert m.stats.failed_lookups == 1
    m.feed(b"anything(")
    assert m.stats.extra["violations"] == 0


@pytest.mark.parametrize("names", [frozenset(), frozenset({"area()", "scale(double) : Circle", ""})])
def test_no_usable_name_fails_open(names: frozenset[str]) -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    m.provide(facts(m.need(), names))
    assert m.state == "idle" and m.stats.failed_lookups == 1


def test_unusable_names_are_dropped() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    m.provide(facts(m.need(), {"area()", "radius", "naïve"}))
    assert cands(m) == {"radius", "naïve"}


def test_identifier_grows_while_waiting() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    need = m.need()
    m.feed(b"re")
    assert m.need() is need and m.constraint() is None and m.typed == b"re"
    m.provide(facts(need))
    assert cands(m) == {"rescale"}


def test_identifier_ends_while_waiting_is_missed() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    need = m.need()
    m.feed(b"area()")
    assert m.state == "idle" and m.need() is None and m.stats.extra["missed"] == 1
    m.provide(facts(need))
    assert m.state == "idle" and m.stats.extra["stale_facts"] == 1


def test_facts_that_miss_what_was_typed_count_a_violation() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    need = m.need()
    m.feed(b"zz")
    m.provide(facts(need))
    assert m.state == "idle" and m.stats.extra["violations"] == 1


def test_incomplete_facts_rerequest_as_identifier_grows() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    first = m.need()
    m.provide(facts(first, {"radius", "rescale", "area"}, incomplete=True))
    m.feed(b"r")
    again = m.need()
    assert again is not None and again.serial != first.serial
    assert again.offset == 1 and again.generated == "r"
    assert m.stats.extra["rerequests"] == 1
    assert cands(m) == {"radius", "rescale"}  # the old list, narrowed, until answered
    m.feed(b"e")
    third = m.need()
    assert third is not None and third.offset == 2 and third.serial != again.serial
    m.provide(facts(again, {"resize"}))  # the superseded need: stale
    assert m.stats.extra["stale_facts"] == 1
    m.provide(facts(third, {"rescale", "reset", "resize", "area"}))
    assert cands(m) == {"rescale", "reset", "resize"}
    assert m.need() is None
    m.feed(b"set")  # complete facts now: no new need
    assert m.need() is None and cands(m) == {"reset"}
    m.feed(b"()")
    assert m.stats.extra["accepted"] == 1


# ---------------------------------------------------------------- non-triggers


@pytest.mark.parametrize(
    "tokens",
    [
        ['x = "a', '.b"'],
        ["# a", "."],
        ["x = 1", "."],
        ["x = 1", ".5"],
        ["from", " .", "mod"],
        ["from .", " import x"],
        ["import os", "."],
        ["x = ", ".", ".", "."],
        ['"""Return the area', '."""'],
        ['f"{x:', ".2f}"],
    ],
)
def test_no_trigger(tokens: list[str]) -> None:
    m = DereferenceMonitor(PY, "def f(x):\n    ")
    for tok in tokens:
        m.feed(tok.encode())
        assert m.need() is None and m.constraint() is None
    assert m.stats.triggers == 0


@pytest.mark.parametrize(
    ("prefix", "tokens", "generated"),
    [
        ("x = ", ["foo", "()."], "foo()."),
        ("x = ", ["a", "[0]", "."], "a[0]."),
        ("x = ", ['"abc"', "."], '"abc".'),
        ("def f(self):\n    return ", ["self", ".x", "."], "self.x."),
        ("y = (\n    1,\n    ", ["z", "."], "z."),
        ("import os\r\nx = 1\r\n", ["os", "."], "os."),
        ("", ["naïve", "."], "naïve."),
    ],
)
def test_trigger_probes(prefix: str, tokens: list[str], generated: str) -> None:
    m = DereferenceMonitor(PY, prefix)
    for tok in tokens:
        m.feed(tok.encode())
    need = m.need()
    assert need is not None and need.generated == generated and need.offset == len(generated)


# ---------------------------------------------------------------- unicode


def test_multibyte_character_split_across_chunks() -> None:
    m = DereferenceMonitor(PY, "obj = make()\nv = ")
    m.feed("ü".encode()[:1])  # half of ü: nothing decoded yet
    assert m.generated == ""
    m.feed("ü".encode()[1:] + b".")
    need = m.need()
    assert need is not None and need.offset == 2 and need.generated == "ü."
    m.provide(facts(need, {"naïve", "name"}))
    enc = "naïve".encode()
    split = enc.index(b"\xc3") + 1
    m.feed(enc[:split])  # ends inside ï
    c = m.constraint()
    assert c is not None and c.typed == enc[:split] and c.candidates == frozenset({enc})
    assert m.generated == "ü.na"  # complete characters only
    m.feed(enc[split:] + b" ")
    assert m.stats.extra["accepted"] == 1


def test_need_offsets_count_characters_not_bytes() -> None:
    m = DereferenceMonitor(PY, "")
    m.feed("s = 'é€'\nπ".encode())
    m.feed(b".")
    need = m.need()
    assert need is not None and need.generated == "s = 'é€'\nπ." and need.offset == 11


def test_invalid_utf8_never_raises() -> None:
    m = DereferenceMonitor(PY, "x = ")
    m.feed(b"\xff\xfe.")
    m.feed(b"\x80abc\xc3")
    m.feed(b"(")
    assert m.state == "idle"


# ---------------------------------------------------------------- fork, snapshot


def test_fork_is_independent_both_ways() -> None:
    m = DereferenceMonitor(PY, PROMPT + "c.")
    m.provide(facts(m.need()))
    m.feed(b"r")
    f = m.fork()
    assert f.constraint() == m.constraint()
    f.feed(b"adius)")
    assert f.state == "idle" and f.stats.extra["accepted"] == 1
    assert m.state == "active" and m.typed == b"r" and m.stats.extra["accepted"] == 0
    assert m.generated == "r" and f.generated == "radius)"
    m.feed(b"escale(")
    assert m.stats.extra["accepted"] == 1 and f.generated == "radius)"
    m.feed(b"c.")
    assert m.need() is not None and f.need() is None
    assert m.stats.triggers == 2 and f.stats.triggers == 1


def test_fork_keeps_a_split_character_and_need() -> None:
    m = DereferenceMonitor(PY, "v = ")
    m.feed(b"a.")
    need = m.need()
    m.feed("é".encode()[:1])
    f = m.fork()
    f.feed("é".encode()[1:])
    assert f.generated == "a.é" and m.generated == "a."
    f.provide(facts(need, {"é", "x"}))
    assert f.state == "active" and m.state == "waiting"


def test_snapshot_and_restore() -> None:
    m = DereferenceMonitor(PY, PROMPT)
    m.feed(b"c.")
    snap = m.snapshot()
    m.provide(facts(m.need()))
    m.feed(b"area()")
    m.restore(snap)
    assert m.state == "waiting" and m.generated == "c." and m.stats.extra["accepted"] == 0
    m.provide(facts(m.need()))
    m.feed(b"radius ")
    m.restore(snap)  # a snapshot can be restored twice
    assert m.state == "waiting" and m.stats.extra["accepted"] == 0
    with pytest.raises(TypeError):
        m.restore(object())  # type: ignore[arg-type]


# ---------------------------------------------------------------- property: random chunks of real source

TRICKY = (
    "# -*- coding: utf-8 -*-\r\n"
    '"""Module doc. It mentions os.path and 1.5."""\r\n'
    "import os.path\r\n"
    "from . import sibling\r\n"
    "from .pkg.mod import thing as t\r\n"
    "\r\n"
    "naïve = 'café. x.y'\r\n"
    "π = 3.14159\r\n"
    "def área(self, x=1., *args):\r\n"
    "    '''Docstring.\r\n"
    "    Still docstring: obj.attr.\r\n"
    "    '''\r\n"
    '    s = f"{self.name!r:>10}.{x.real:.3f} {{lit.}}"\r\n'
    '    t = rb\'\\d.\\w\' + r"\\"q."\r\n'
    "    v = ... if x else self.data[0].strip().lower()  # note. obj.x\r\n"
    "    return naïve.upper().encode(), π.real, área.__name__, (1).bit_length(), 1 .real\r\n"
)


def _sources() -> list[str]:
    out = [TRICKY]
    for name in ("textwrap.py", "shlex.py"):
        out.append((STDLIB / name).read_text(encoding="utf-8")[:6000])
    return out


SOURCES = _sources()


def _reference(source: str) -> list[bool]:
    """Per character: is it a member-access dot? (A detector walking dot by dot.)"""
    det = TriggerDetector(PY)
    verdict = [False] * len(source)
    pos = 0
    for i, ch in enumerate(source):
        if ch == ".":
            det.append(source[pos : i + 1])
            pos = i + 1
            verdict[i] = det.is_member_access(i)
    return verdict


REFERENCE = [_reference(s) for s in SOURCES]


def test_reference_agrees_with_fresh_parses_on_tricky_source() -> None:
    verdict = REFERENCE[0]
    for i, ch in enumerate(TRICKY):
        if ch == ".":
            assert TriggerDetector(PY, TRICKY[: i + 1]).is_member_access(i) == verdict[i], TRICKY[: i + 1]
    member = {TRICKY[max(0, i - 6) : i + 1] for i, v in enumerate(verdict) if v}
    assert "self.data[0]." in {TRICKY[i - 12 : i + 1] for i, v in enumerate(verdict) if v}
    assert not any("os." in m or "pkg." in m for m in member)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_chunks_trigger_exactly_on_member_dots(data: st.DataObject) -> None:
    """Whatever the chunking (split at any byte), the monitor triggers on exactly the
    member-access dots that are the last break character of a chunk (the only dots a
    monitor can still act on), and each need's offset is the end of the decoded text."""
    k = data.draw(st.integers(0, len(SOURCES) - 1), label="source")
    source, verdict = SOURCES[k], REFERENCE[k]
    raw = source.encode()
    # The prompt ends at a character boundary; the rest is fed in random byte chunks.
    cut_char = data.draw(st.integers(0, len(source)), label="prompt chars")
    prompt, rest = source[:cut_char], raw[len(source[:cut_char].encode()) :]
    cuts_set = data.draw(st.sets(st.integers(1, max(1, len(rest) - 1)), max_size=400), label="cuts")
    # Also cut right after dots (or one to three bytes later, maybe inside a character)
    # so that many chunks end with a dot candidate.
    near_dots = sorted({i + 1 + j for i, b in enumerate(rest) if b == 0x2E for j in range(4)} - {0, len(rest)})
    if near_dots:
        cuts_set |= data.draw(st.sets(st.sampled_from(near_dots), max_size=200), label="dot cuts")
    cuts = sorted(c for c in cuts_set if 0 < c < len(rest))
    chunks = [rest[a:b] for a, b in zip([0, *cuts], [*cuts, len(rest)], strict=True) if a < b]

    m = DereferenceMonitor(PY, prompt)
    seen: list[CompletionNeed] = []
    if m.need() is not None:
        seen.append(m.need())
    for chunk in chunks:
        m.feed(chunk)
        need = m.need()
        if need is not None and (not seen or need.serial != seen[-1].serial):
            seen.append(need)

    # Expected: for the prompt and each chunk, its last break character, if it is a dot.
    expected: list[tuple[int, int]] = []  # (dot char offset in source, need offset)
    last = prompt.encode().rstrip(IDENT_BYTES)
    if last.endswith(b"."):
        dot = len(last.decode()) - 1
        if verdict[dot]:
            expected.append((dot, 0))
    fed = b""
    for chunk in chunks:
        fed += chunk
        head = chunk.rstrip(IDENT_BYTES)
        if head.endswith(b"."):
            done = prompt.encode() + fed
            dot = len(done[: len(done) - (len(chunk) - len(head))].decode()) - 1
            if verdict[dot]:
                complete = done.decode("utf-8", "ignore")
                expected.append((dot, len(complete) - len(prompt)))
    assert [n.offset for n in seen] == [off for _, off in expected]
    event("triggers: " + ("0" if not expected else "1-9" if len(expected) < 10 else "10+"))
    assert m.stats.triggers == len(expected)
    for need in seen:
        assert source[len(prompt) :].startswith(need.generated) and len(need.generated) == need.offset


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(max_size=6), max_size=60), st.lists(st.sampled_from(sorted(MEMBERS)), max_size=5))
def test_arbitrary_bytes_never_raise(chunks: list[bytes], names: list[str]) -> None:
    m = DereferenceMonitor(PY, "c = Circle()\nx = c")
    for i, chunk in enumerate(chunks):
        m.feed(chunk)
        need = m.need()
        if need is not None and i % 2:
            m.provide(CompletionFacts(serial=need.serial, names=frozenset(names), incomplete=i % 3 == 0))
        c = m.constraint()
        if c is not None:
            assert all(x.startswith(c.typed) for x in c.candidates) and c.candidates


@pytest.mark.parametrize("k", range(len(SOURCES)))
def test_byte_by_byte_triggers_on_every_member_dot(k: int) -> None:
    """Fed one byte at a time (splitting every multi-byte character), every member-access
    dot triggers, each need at the character right after its dot."""
    source, verdict = SOURCES[k], REFERENCE[k]
    m = DereferenceMonitor(PY, "")
    offsets = []
    serial = 0
    for byte in source.encode():
        m.feed(bytes([byte]))
        need = m.need()
        if need is not None and need.serial != serial:
            serial = need.serial
            offsets.append(need.offset)
            assert source[need.offset - 1] == "."
    assert offsets == [i + 1 for i, v in enumerate(verdict) if v]
    assert m.stats.extra["missed"] == len(offsets) - (m.state == "waiting")


def test_rust_path_separator_triggers_like_a_dot() -> None:
    rust = get_language("rust")
    m = DereferenceMonitor(rust, "fn main() {\n    let v = Vec")
    m.feed(b":")
    assert m.need() is None  # one colon is not a path separator
    m.feed(b":")
    need = m.need()
    assert need is not None and need.generated == "::"
    m.provide(CompletionFacts(need.serial, frozenset({"new", "with_capacity"})))
    assert m.constraint() == IdentifierConstraint(frozenset({b"new", b"with_capacity"}), b"")
    m.feed(b"new")
    m.feed(b"();")
    assert m.state == "idle" and m.stats.extra["accepted"] == 1


def test_rust_path_in_one_token_is_a_late_trigger_and_prompt_end_triggers() -> None:
    rust = get_language("rust")
    m = DereferenceMonitor(rust, "fn main() {\n    let v = Vec")
    m.feed(b"::wi")
    need = m.need()
    assert need is not None and m.typed == b"wi" and m.stats.late_triggers == 1
    assert DereferenceMonitor(rust, "fn main() {\n    let v = Vec::").need() is not None
    assert DereferenceMonitor(rust, 'fn main() {\n    let s = "Vec::').need() is None
