"""Helpers for the editor tests: ``mgd lsp`` over stdio with pygls's LanguageClient."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[2]


def mgd_lsp_command(*args: str) -> list[str]:
    """``mgd lsp ...`` run by this interpreter (the venv's)."""
    return [sys.executable, "-m", "mgd.cli", "lsp", *args]


@contextlib.asynccontextmanager
async def lsp_client(
    workspace: Path,
    *args: str,
    init: dict[str, Any] | None = None,
    encodings: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[tuple[LanguageClient, types.InitializeResult]]:
    """A started, initialized client talking to ``mgd lsp``; shut down on exit.

    ``encodings``: the position encodings the client offers (``general.positionEncodings``,
    in preference order; None: the LSP default, UTF-16); ``env``: added to the server's environment.
    """
    client = LanguageClient("mgd-tests", "0")
    cmd = mgd_lsp_command(*args)
    await client.start_io(cmd[0], *cmd[1:], cwd=str(ROOT), env={**os.environ, **(env or {})})
    general = types.GeneralClientCapabilities(position_encodings=encodings) if encodings else None
    try:
        result = await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(general=general),
                    root_uri=workspace.as_uri(),
                    workspace_folders=[types.WorkspaceFolder(workspace.as_uri(), workspace.name)],
                    initialization_options=init,
                )
            ),
            60,
        )
        client.initialized(types.InitializedParams())
        yield client, result
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_async(None), 60)
            client.exit(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 20)


def open_doc(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    uri = path.resolve().as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text))
    )
    return uri


def position_of(text: str, offset: int) -> types.Position:
    line = text.count("\n", 0, offset)
    col = offset - (text.rfind("\n", 0, offset) + 1)
    return types.Position(line, col)


def inline_params(uri: str, pos: types.Position) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
        text_document=types.TextDocumentIdentifier(uri),
        position=pos,
    )


async def server_stats(client: LanguageClient) -> dict[str, Any]:
    res = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="mgd.stats"))
    return json.loads(json.dumps(res, default=lambda o: o.__dict__))


async def wait_job(client: LanguageClient, job_filter, timeout: float = 60.0) -> dict[str, Any]:
    """Poll ``mgd.stats`` until a job matching ``job_filter`` has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [j for j in (await server_stats(client))["jobs"] if job_filter(j)]
        if jobs and jobs[-1]["ended"] is not None:
            return jobs[-1]
        await asyncio.sleep(0.05)
    raise AssertionError("job did not end in time")
