"""Server quirks handled without a model: launchers, languageIds, edits that replace the dot."""

from __future__ import annotations

from lsprotocol import types as lsp

from lsp_bridge import preset
from lsp_bridge.client import _trim_edits
from lsp_bridge.names import identifier_names
from lsp_bridge.servers import DEFAULT_IDENTIFIER_KINDS


def _item(label: str, new_text: str, line: int, start: int, end: int) -> lsp.CompletionItem:
    rng = lsp.Range(lsp.Position(line, start), lsp.Position(line, end))
    return lsp.CompletionItem(label=label, kind=lsp.CompletionItemKind.Field,
                              text_edit=lsp.TextEdit(range=rng, new_text=new_text))


def test_edits_that_replace_the_dot_keep_the_identifier() -> None:
    text = "const a = vehicle.mil"
    dot = text.index(".")
    items = (
        _item("mileage", ".mileage", 0, dot, len(text)),       # typescript-language-server
        _item("mileage2", "mileage2", 0, dot + 1, len(text)),   # plain edit: unchanged
        _item("x", "?.x", 0, dot, len(text)),                   # not a prefix of the typed text: unchanged
    )
    trimmed = _trim_edits(items, text, len(text), "utf-16")
    assert [i.text_edit.new_text for i in trimmed] == ["mileage", "mileage2", "?.x"]
    assert identifier_names(trimmed, DEFAULT_IDENTIFIER_KINDS) == {"mileage", "mileage2"}


def test_typescript_server_sends_javascript_ids() -> None:
    ts = preset("typescript")
    assert ts.language_id_for("src/a.ts") == "typescript"
    assert ts.language_id_for("src/a.js") == "javascript"
    assert ts.language_id_for("src/a.tsx") == "typescriptreact"
    assert preset("gopls").language_id_for("main.go") == "go"


def test_jdtls_launcher_finds_java_21_or_newer() -> None:
    from lsp_bridge import jdtls

    java = jdtls.find_java()
    assert jdtls._java_major(java) >= 21
    home = jdtls.find_jdtls_home()
    assert list((home / "plugins").glob("org.eclipse.equinox.launcher_*.jar"))
