"""The public namespace is what we intend, and every name in it exists."""

from __future__ import annotations

import importlib
import pkgutil

import lsp_bridge

PUBLIC = {
    "PRESETS",
    "BackgroundLoop",
    "BridgeLookup",
    "CompletionResult",
    "DocumentContext",
    "DocumentState",
    "LookupGate",
    "LookupStats",
    "RequestCache",
    "LspServer",
    "ServerPool",
    "ServerSpec",
    "SignatureResult",
    "identifier_names",
    "offset_to_position",
    "path_to_uri",
    "position_to_offset",
    "preset",
    "resolve_command",
    "resolve_in_workspace",
    "uri_to_path",
}
#: Every public module of the package (read from its folder, so a new or moved module is never missed).
MODULES = sorted(m.name for m in pkgutil.iter_modules(lsp_bridge.__path__) if not m.name.startswith("_"))


def test_exported_names() -> None:
    assert set(lsp_bridge.__all__) == PUBLIC
    for name in PUBLIC:
        assert getattr(lsp_bridge, name) is not None


def test_every_module_declares_all() -> None:
    for name in MODULES:
        module = importlib.import_module(f"lsp_bridge.{name}")
        assert module.__all__, name
        for exported in module.__all__:
            assert hasattr(module, exported), f"{name}.{exported}"
