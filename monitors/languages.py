"""The language table: what a member-access dot looks like in each language.

A :class:`LanguageSpec` says how to load the tree-sitter grammar (lazily: the
grammar wheel is imported on first use and a missing one raises
:class:`~monitors.errors.ConfigError` with the ``pip install`` line), which leaf
types are member-access tokens, which node types are strings, comments and number
literals (a dot inside them is not a member access), and which ancestors reject a
dot because another monitor owns it (Python ``import``/``from`` statements: a
future imports monitor). Its :class:`LexSpec` is the data of the one lexer
(:mod:`monitors.lexer`, read through :mod:`monitors.document`) that knows whether a
point of an *unfinished* text is inside a string or comment and which brackets are
open, which tree-sitter cannot tell (``"a.`` parses as an ERROR with no string node
in it).

Python is complete and tested; Java, TypeScript/TSX, JavaScript, Go and Rust
entries are present and checked on basic probes (their grammar wheels are
optional: ``pip install tree-sitter-java tree-sitter-typescript
tree-sitter-javascript tree-sitter-go tree-sitter-rust``).

This module imports no grammar at import time.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import PurePath
from types import MappingProxyType
from typing import TYPE_CHECKING

from monitors.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    import tree_sitter

__all__ = [
    "LANGUAGES",
    "LanguageSpec",
    "PYTHON_LEX",
    "LexSpec",
    "get_language",
    "language_for_path",
]


_PY_STRING_PREFIXES = frozenset({"", "r", "u", "b", "f", "t", "br", "rb", "fr", "rf", "tr", "rt"})


@dataclass(frozen=True, slots=True, eq=False)
class LexSpec:
    """What the one lexer (:mod:`monitors.lexer`) must know about a language's text.

    The defaults are a C-like language: ``//`` and ``/* */`` comments, ``"`` strings and
    ``'`` char literals that end at a newline and honour ``\\``, braces that delimit
    statements. Compared and hashed by identity (it is part of the syntax guard's state
    keys, hashed per token).
    """

    #: The line comment's opener (``#`` for Python).
    line_comment: str = "//"
    #: ``/* */`` comments.
    block_comments: bool = True
    #: ``/* */`` comments nest (Rust).
    nested_block_comments: bool = False
    #: Quotes that open strings (or char literals) which end at a newline and honour ``\\``.
    quotes: str = "\"'"
    #: Quotes whose strings may span lines and honour ``\\`` (Rust ``"``).
    multiline_quotes: str = ""
    #: Quotes of raw multi-line strings without escapes (Go backtick).
    raw_quotes: str = ""
    #: The template-literal quote with ``${...}`` interpolation (JS/TS backtick).
    template_quote: str = ""
    #: Quotes that, tripled, open a multi-line string (Python ``'''``/``\"\"\"``, Java text
    #: blocks); two of them are an empty string.
    triple_quotes: str = ""
    #: The string prefixes (Python ``r``, ``f``, ``rb`` ...; lowercase): letters right before
    #: a quote, not part of a longer name.
    string_prefixes: frozenset[str] = frozenset()
    #: Letters of a prefix that make ``{...}`` fields code (Python f- and t-strings).
    interpolating_prefixes: str = ""
    #: A ``\\`` before a newline continues the statement (Python).
    line_continuation: bool = False
    #: Top-level ``{`` and ``}`` delimit statements (C family); else they nest like ``()[]``.
    brace_blocks: bool = True
    #: Rust raw strings ``r"..."``, ``r#"..."#``, ``br"..."``.
    rust_raw_strings: bool = False
    #: ``'`` starts a char literal only when it closes right away, else a lifetime (Rust).
    rust_lifetimes: bool = False
    #: ``/re/`` literals (JS/TS), told from division by the token before.
    regex_literals: bool = False
    #: A newline outside brackets ends a statement (Python; JS/TS/Go automatic semicolons).
    asi_newlines: bool = False
    #: A statement starting with one of these words holds no member access to check
    #: (imports: a future imports monitor's job).
    reject_statement_words: frozenset[str] = frozenset()


#: Python's lexical rules.
PYTHON_LEX = LexSpec(
    line_comment="#",
    block_comments=False,
    triple_quotes="\"'",
    string_prefixes=_PY_STRING_PREFIXES,
    interpolating_prefixes="ft",
    line_continuation=True,
    brace_blocks=False,
    asi_newlines=True,
    reject_statement_words=frozenset({"import", "from"}),
)


@dataclass(frozen=True, slots=True)
class LanguageSpec:
    """One language: grammar loader, node types, lexer settings.

    ``ts_language_loader`` returns the ``tree_sitter.Language`` (cached; imports
    the grammar package on first call). ``member_access_tokens`` are leaf types of
    the dot (TS ``?.``, JS ``optional_chain``, Rust's ``::`` path separator); the
    last character of each punctuation token is what :class:`TriggerDetector`
    checks (``.`` or ``:``). A dot is rejected when an ancestor
    has a type in ``string_types``, ``comment_types``, ``number_types`` or
    ``reject_ancestor_types``; the walk up stops (accepting) at
    ``interpolation_types`` (code inside a string: ``f"{x.y}"``).
    ``object_end_tokens`` are the anonymous leaf types that may end the object
    before the dot (``)``, ``]``, a closing quote); any named leaf may.
    ``member_parent_types`` is informational (the node a complete member access
    parses to).
    """

    name: str
    extensions: tuple[str, ...]
    ts_language_loader: Callable[[], tree_sitter.Language] = field(repr=False, compare=False)
    member_access_tokens: tuple[str, ...] = (".",)
    string_types: frozenset[str] = frozenset()
    comment_types: frozenset[str] = frozenset()
    number_types: frozenset[str] = frozenset()
    reject_ancestor_types: frozenset[str] = frozenset()
    member_parent_types: frozenset[str] = frozenset()
    interpolation_types: frozenset[str] = frozenset()
    object_end_tokens: frozenset[str] = frozenset({")", "]", "}"})
    lex: LexSpec = field(default_factory=LexSpec)


def _loader(module: str, function: str, pip_name: str) -> Callable[[], tree_sitter.Language]:
    """A cached loader importing ``module`` only when first called."""

    @functools.cache
    def load() -> tree_sitter.Language:
        try:
            import tree_sitter
        except ImportError as exc:  # pragma: no cover - a core dependency
            raise ConfigError("tree-sitter is not installed: pip install 'tree-sitter>=0.25'") from exc
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(f"the {pip_name} grammar is not installed: pip install {pip_name} "
                              "(or pip install 'mgd[grammars]' for every grammar)") from exc
        return tree_sitter.Language(getattr(mod, function)())

    return load


_C_COMMENTS = frozenset({"comment", "line_comment", "block_comment"})

_PYTHON = LanguageSpec(
    name="python",
    extensions=(".py", ".pyi", ".pyw"),
    ts_language_loader=_loader("tree_sitter_python", "language", "tree-sitter-python"),
    string_types=frozenset({"string", "string_content", "concatenated_string", "escape_sequence"}),
    comment_types=frozenset({"comment"}),
    number_types=frozenset({"integer", "float"}),
    reject_ancestor_types=frozenset(
        {
            "import_statement",
            "import_from_statement",
            "future_import_statement",
            "relative_import",
            "import_prefix",
        }
    ),
    member_parent_types=frozenset({"attribute"}),
    interpolation_types=frozenset({"interpolation"}),
    lex=PYTHON_LEX,
)

_JAVA = LanguageSpec(
    name="java",
    extensions=(".java",),
    ts_language_loader=_loader("tree_sitter_java", "language", "tree-sitter-java"),
    string_types=frozenset({"string_literal", "character_literal", "string_fragment", "text_block"}),
    comment_types=_C_COMMENTS,
    number_types=frozenset(
        {
            "decimal_integer_literal",
            "hex_integer_literal",
            "octal_integer_literal",
            "binary_integer_literal",
            "decimal_floating_point_literal",
            "hex_floating_point_literal",
        }
    ),
    reject_ancestor_types=frozenset({"import_declaration", "package_declaration"}),
    member_parent_types=frozenset({"field_access", "method_invocation", "method_reference"}),
    object_end_tokens=frozenset({")", "]", "}", '"', "'", '"""'}),
    lex=LexSpec(triple_quotes='"', reject_statement_words=frozenset({"import", "package"})),
)

_JS_STRINGS = frozenset({"string", "template_string", "string_fragment", "regex", "regex_pattern"})
_JS_LEX = LexSpec(
    template_quote="`",
    regex_literals=True,
    asi_newlines=True,
    reject_statement_words=frozenset({"import"}),
)

_TYPESCRIPT = LanguageSpec(
    name="typescript",
    extensions=(".ts", ".mts", ".cts"),
    ts_language_loader=_loader("tree_sitter_typescript", "language_typescript", "tree-sitter-typescript"),
    member_access_tokens=(".", "?."),
    string_types=_JS_STRINGS,
    comment_types=_C_COMMENTS,
    number_types=frozenset({"number"}),
    reject_ancestor_types=frozenset({"import_statement", "import_require_clause", "import_alias"}),
    member_parent_types=frozenset({"member_expression", "nested_type_identifier", "nested_identifier"}),
    interpolation_types=frozenset({"template_substitution"}),
    object_end_tokens=frozenset({")", "]", "}", '"', "'", "`", "!"}),
    lex=_JS_LEX,
)

#: TSX: TypeScript's node types and lexer with the TSX grammar.
_TSX = replace(
    _TYPESCRIPT,
    name="tsx",
    extensions=(".tsx",),
    ts_language_loader=_loader("tree_sitter_typescript", "language_tsx", "tree-sitter-typescript"),
)

_JAVASCRIPT = LanguageSpec(
    name="javascript",
    extensions=(".js", ".mjs", ".cjs", ".jsx"),
    ts_language_loader=_loader("tree_sitter_javascript", "language", "tree-sitter-javascript"),
    member_access_tokens=(".", "?.", "optional_chain"),
    string_types=_JS_STRINGS,
    comment_types=_C_COMMENTS,
    number_types=frozenset({"number"}),
    reject_ancestor_types=frozenset({"import_statement"}),
    member_parent_types=frozenset({"member_expression"}),
    interpolation_types=frozenset({"template_substitution"}),
    object_end_tokens=frozenset({")", "]", "}", '"', "'", "`"}),
    lex=_JS_LEX,
)

_GO = LanguageSpec(
    name="go",
    extensions=(".go",),
    ts_language_loader=_loader("tree_sitter_go", "language", "tree-sitter-go"),
    string_types=frozenset(
        {
            "interpreted_string_literal",
            "raw_string_literal",
            "rune_literal",
            "interpreted_string_literal_content",
            "raw_string_literal_content",
        }
    ),
    comment_types=_C_COMMENTS,
    number_types=frozenset({"int_literal", "float_literal", "imaginary_literal"}),
    reject_ancestor_types=frozenset({"import_declaration", "package_clause"}),
    member_parent_types=frozenset({"selector_expression", "qualified_type"}),
    object_end_tokens=frozenset({")", "]", "}", '"', "`", "'"}),
    lex=LexSpec(
        raw_quotes="`",
        asi_newlines=True,
        reject_statement_words=frozenset({"import", "package"}),
    ),
)

_RUST = LanguageSpec(
    name="rust",
    extensions=(".rs",),
    ts_language_loader=_loader("tree_sitter_rust", "language", "tree-sitter-rust"),
    member_access_tokens=(".", "::"),
    string_types=frozenset({"string_literal", "raw_string_literal", "char_literal", "string_content"}),
    comment_types=_C_COMMENTS,
    number_types=frozenset({"integer_literal", "float_literal"}),
    reject_ancestor_types=frozenset({"use_declaration"}),
    member_parent_types=frozenset({"field_expression", "scoped_identifier", "scoped_type_identifier"}),
    object_end_tokens=frozenset({")", "]", "}", '"', "'", "?"}),
    lex=LexSpec(
        quotes="'",
        multiline_quotes='"',
        nested_block_comments=True,
        rust_raw_strings=True,
        rust_lifetimes=True,
        reject_statement_words=frozenset({"use"}),
    ),
)

#: Every known language by name.
LANGUAGES: Mapping[str, LanguageSpec] = MappingProxyType(
    {spec.name: spec for spec in (_PYTHON, _JAVA, _TYPESCRIPT, _TSX, _JAVASCRIPT, _GO, _RUST)}
)

_BY_EXTENSION: Mapping[str, LanguageSpec] = MappingProxyType(
    {ext: spec for spec in LANGUAGES.values() for ext in spec.extensions}
)


def get_language(name: str) -> LanguageSpec:
    """The spec called ``name`` (case-insensitive); :class:`ConfigError` if unknown."""
    spec = LANGUAGES.get(name.lower())
    if spec is None:
        known = ", ".join(sorted(LANGUAGES))
        raise ConfigError(f"unknown language {name!r} (known: {known})")
    return spec


def language_for_path(path: str | PurePath) -> LanguageSpec:
    """The spec for a file, by its extension; :class:`ConfigError` if unknown."""
    suffix = PurePath(path).suffix.lower()
    spec = _BY_EXTENSION.get(suffix)
    if spec is None:
        known = ", ".join(sorted(_BY_EXTENSION))
        raise ConfigError(f"no language for {str(path)!r} (known extensions: {known})")
    return spec
