"""``mgd serve``'s middleware (:mod:`mgd.vllm.http`): the warm-up of a newly seen workspace starts
as the request arrives, never holds it, and only for a caller vLLM's API key lets in."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from mgd.vllm.http import MgdResponseMiddleware, authorized


class Engine:
    """Records the workers' RPCs; ``mgd_warm`` never returns until released."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.release = asyncio.Event()

    async def collective_rpc(self, method: str, args: tuple[Any, ...] = ()) -> list[Any]:
        self.calls.append((method, args))
        if method == "mgd_warm":
            await self.release.wait()
            return [["t"]]
        return [{"requests": {}}]


def scope(app: Any, key: str | None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    return {"type": "http", "method": "POST", "path": "/v1/completions", "root_path": "", "headers": headers,
            "app": app}


def body(workspace: str) -> bytes:
    return json.dumps({"model": "m", "prompt": "x = a.", "vllm_xargs": {"mgd": json.dumps(
        {"workspace": workspace, "file": "m.py"})}}).encode()


async def call(mw: MgdResponseMiddleware, sc: dict[str, Any], data: bytes) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": data, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(mw(sc, receive, send), 5)
    return sent


async def inner(sc: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})


@pytest.mark.parametrize(("keys", "env", "given", "ok"), [
    (None, None, None, True),  # no key configured
    (["k1", "k2"], None, "k2", True),
    (["k1"], None, "nope", False),
    (["k1"], None, None, False),
    (None, "envkey", "envkey", True),  # VLLM_API_KEY when --api-key is not given
    (None, "envkey", "other", False),
    (["k1"], "envkey", "envkey", False),  # --api-key wins, as in vLLM
])
def test_authorized_checks_the_key_as_vllm_does(monkeypatch, keys, env, given, ok) -> None:
    if env is None:
        monkeypatch.delenv("VLLM_API_KEY", raising=False)
    else:
        monkeypatch.setenv("VLLM_API_KEY", env)
    app = SimpleNamespace(state=SimpleNamespace(args=SimpleNamespace(api_key=keys), engine_client=None))
    assert authorized(scope(app, given)) is ok
    assert authorized({**scope(app, given), "path": "/health"})  # unguarded paths, as in vLLM


async def test_warm_up_never_holds_the_request_and_needs_the_key(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    engine = Engine()
    app = SimpleNamespace(state=SimpleNamespace(args=SimpleNamespace(api_key=["secret"]), engine_client=engine))
    mw = MgdResponseMiddleware(inner)
    out = await call(mw, scope(app, "wrong"), body("/ws/a"))  # vLLM answers 401 further in
    assert out[-1]["type"] == "http.response.body"
    await asyncio.sleep(0)
    assert not [c for c in engine.calls if c[0] == "mgd_warm"]  # an unauthenticated caller starts nothing
    out = await call(mw, scope(app, "secret"), body("/ws/a"))  # answered while the warm-up still runs
    assert json.loads(out[-1]["body"]) == {}
    await asyncio.sleep(0)
    warm = [c for c in engine.calls if c[0] == "mgd_warm"]
    assert len(warm) == 1 and json.loads(warm[0][1][0])["prompt"] == "x = a."
    await call(mw, scope(app, "secret"), body("/ws/a"))  # seen: not warmed again
    await asyncio.sleep(0)
    assert len([c for c in engine.calls if c[0] == "mgd_warm"]) == 1
    engine.release.set()
