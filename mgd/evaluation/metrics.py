"""The MGD paper's match metrics and the unbiased score@k estimator.

Agrawal et al., "Monitor-Guided Decoding of Code LMs with Static Analysis of
Repository Context" (NeurIPS 2023), compare a generated method completion with
the ground truth (the rest of the method):

- **NIM** (next identifier match): the first identifier of the generation equals
  the first identifier of the ground truth (here: the member after the dot);
- **ISM** (identifier sequence match): the longest common prefix of the two
  identifier sequences (keywords excluded), as a fraction of the ground truth's
  identifiers;
- **PM** (prefix match): the longest common prefix of the two lexeme sequences
  (identifiers, literals, operators; whitespace and comments dropped), as a
  fraction of the ground truth's lexemes.

score@k over n samples of which c succeed is the unbiased estimator
``1 - C(n-c, k) / C(n, k)`` (Chen et al. 2021); for graded metrics (ISM, PM) the
same idea gives the expected best of k samples drawn from the n.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Sequence
from math import comb

from monitors.errors import ConfigError
from monitors.identifiers import IDENT_PATTERN

__all__ = [
    "KEYWORDS",
    "expected_max_at_k",
    "definition_site",
    "identifiers",
    "ism",
    "lexemes",
    "name_kind",
    "nim",
    "pass_at_k",
    "pm",
]

_JAVA_KEYWORDS = frozenset(
    """abstract assert boolean break byte case catch char class const continue default do double else enum
    extends final finally float for goto if implements import instanceof int interface long native new package
    private protected public return short static strictfp super switch synchronized this throw throws transient
    try void volatile while true false null var record yield sealed permits""".split()
)
_GO_KEYWORDS = frozenset(
    """break case chan const continue default defer else fallthrough for func go goto if import interface map
    package range return select struct switch type var nil true false""".split()
)
_TS_KEYWORDS = frozenset(
    """break case catch class const continue debugger default delete do else enum export extends false finally
    for function if import in instanceof new null return super switch this throw true try typeof var void while
    with let static yield await async of as interface type implements undefined""".split()
)

#: Words that are not identifiers, per language.
KEYWORDS: dict[str, frozenset[str]] = {
    "python": frozenset(keyword.kwlist) | frozenset(keyword.softkwlist),
    "java": _JAVA_KEYWORDS,
    "go": _GO_KEYWORDS,
    "typescript": _TS_KEYWORDS,
    "tsx": _TS_KEYWORDS,
    "javascript": _TS_KEYWORDS,
}

_IDENT = IDENT_PATTERN
_LEXEME = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*.*?(?:\*/|\Z))
  | (?P<string>"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?|`(?:\\.|[^`\\])*`?)
  | (?P<number>\d[\w.]*)
  | (?P<ident>"""
    + _IDENT
    + r""")
  | (?P<op>>>>=|<<=|>>=|\*\*=|//=|\.\.\.|->|=>|::|==|!=|<=|>=|&&|\|\||\+\+|--|<<|>>|\*\*|//|[-+*/%&|^~!=<>]=?|.)
    """,
    re.VERBOSE | re.DOTALL,
)


def lexemes(text: str, language: str = "python") -> list[str]:
    """Lexemes of ``text`` without whitespace and comments (``#`` only for Python)."""
    out: list[str] = []
    for m in _LEXEME.finditer(text):
        kind = m.lastgroup
        tok = m.group(0)
        if kind == "ws":
            continue
        if kind == "comment":
            if tok.startswith("#") and language != "python":
                out.append("#")
                rest = tok[1:]
                out.extend(lexemes(rest, language))
            continue
        out.append(tok)
    return out


def identifiers(text: str, language: str = "python") -> list[str]:
    """Identifier lexemes in order, keywords of ``language`` excluded."""
    kw = KEYWORDS.get(language, frozenset())
    ident = re.compile(_IDENT)
    return [t for t in lexemes(text, language) if ident.fullmatch(t) and t not in kw]


def name_kind(name: str) -> str:
    """``dunder`` (``__x__``), ``private`` (leading ``_``) or ``public``.

    Reports split NIM by the ground truth's kind: a prompt cut right after the dot
    ends in a lone ``.`` token, while BPE vocabularies merge ``._``/``.__`` into one
    token, so a model almost never continues such a prompt with a ``_`` name.
    """
    if len(name) > 4 and name.startswith("__") and name.endswith("__"):
        return "dunder"
    return "private" if name.startswith("_") else "public"


_STATEMENT_START_DOT = re.compile(r"(?:^|\n)[ \t]*" + _IDENT + r"\.\Z")
_ASSIGNED = re.compile(_IDENT + r"[ \t]*(?:=(?!=)|:)")


def definition_site(prefix: str, target: str, language: str = "python") -> bool:
    """The dot starts a statement and the ground truth assigns the member (``self.x = ...``).

    In Python such an assignment may *define* a new attribute, which no completion
    list holds yet; Java, Go and TypeScript need a declaration, so they have none.
    """
    if language != "python":
        return False
    return bool(_STATEMENT_START_DOT.search(prefix)) and bool(_ASSIGNED.match(target))


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def nim(generated: str, target: str, language: str = "python") -> bool:
    """Next identifier match: the first identifiers are equal (False if either has none)."""
    g = identifiers(generated, language)
    t = identifiers(target, language)
    return bool(g and t and g[0] == t[0])


def ism(generated: str, target: str, language: str = "python") -> float:
    """Identifier sequence match in [0, 1] (1.0 when the ground truth has no identifier)."""
    t = identifiers(target, language)
    if not t:
        return 1.0
    return _common_prefix(identifiers(generated, language), t) / len(t)


def pm(generated: str, target: str, language: str = "python") -> float:
    """Prefix match in [0, 1] over lexemes (1.0 when the ground truth is empty)."""
    t = lexemes(target, language)
    if not t:
        return 1.0
    return _common_prefix(lexemes(generated, language), t) / len(t)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased score@k: ``1 - C(n-c, k) / C(n, k)`` for c successes in n samples."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ConfigError(f"score@k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def expected_max_at_k(values: Sequence[float], k: int) -> float:
    """E[max of k samples drawn without replacement from ``values``] (exact).

    With 0/1 values this equals :func:`pass_at_k`. Sorted ascending, the i-th
    value (1-based) is the maximum of a k-subset in ``C(i-1, k-1)`` of ``C(n, k)`` subsets.
    """
    n = len(values)
    if not 1 <= k <= n:
        raise ConfigError(f"score@k needs 1 <= k <= n (n={n}, k={k})")
    total = comb(n, k)
    return sum(v * comb(i, k - 1) for i, v in enumerate(sorted(values))) / total
