"""Per-request mgd counters in the HTTP response: an ASGI middleware for vLLM's OpenAI server.

``mgd serve`` adds it (``--middleware mgd.vllm.http.MgdResponseMiddleware``) with the
worker extension (``--worker-extension-cls mgd.vllm.rpc.MgdWorkerExtension``). For a
``/v1/completions`` or ``/v1/chat/completions`` request that carries ``mgd`` settings
in ``vllm_xargs`` it tags the request (``vllm_xargs["mgd_tag"]``, a fresh id), lets
vLLM answer, asks the engine's workers for that tag's counters
(``engine_client.collective_rpc("mgd_reports")``) and adds them to the response as
a top-level ``"mgd"`` object (:func:`summary`): ``steps``, ``unguided_steps`` (steps
that ran unconstrained because mgd was late: a lookup not answered within the
step's budget, no provisional names, or the guide still being built),
``provisional_steps``, ``constrained_steps``, ``fallbacks`` (nothing was legal: the
step was left free) and ``lookups``. A streamed response gets one more event
before ``data: [DONE]``: a chunk with no choices and the ``"mgd"`` object. The
official ``openai`` SDK keeps unknown fields: ``response.mgd`` (or
``response.model_extra["mgd"]``). Requests without ``mgd`` settings, other paths,
and errors pass through untouched; if the counters cannot be had the response is
sent as vLLM made it.

A request in a workspace the middleware has not seen starts that workspace's warm-up
(its language server, the document, the lookups at the prompt's end:
:meth:`MonitorCore.warm <mgd.vllm.core.MonitorCore.warm>`) as it arrives, without
waiting for it: the request goes on to vLLM at once, and its first steps find the
warm-up's lookups running (or answered) in the request cache. Only a caller vLLM
would let in starts one: with ``--api-key`` (or ``VLLM_API_KEY``) the middleware,
which runs outside vLLM's authentication, checks the bearer token the same way first.

A ``/v1/completions`` request with a string ``suffix`` (the OpenAI completions field)
is prompted with fill-in-the-middle (:func:`fim_request`): the served tokenizer's layout
(:class:`~mgd.engines.fim.FimPrompter`, resolved once from ``mgd serve --fim`` and
``--fim-template``, passed in ``MGD_SERVE_FIM`` and ``MGD_SERVE_FIM_TEMPLATE``) turns the
prompt and the suffix into the template's text, the family's stop tokens join
``stop_token_ids``, and ``suffix`` leaves the body before vLLM sees it (vLLM 0.32
refuses a suffix for every model without its own FIM renderer). The request's ``mgd``
settings get the document: ``prefix`` (the prompt as sent) and ``suffix``, where they do
not give them. Without a template (``--fim off``, a tokenizer without FIM tokens) the
prompt stays as sent and the suffix still reaches the monitors. A suffix that is not a
string, or with token ids, a batch of prompts, ``echo``, ``prompt_embeds`` or
``truncate_prompt_tokens``, is answered 400 in OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import os
import secrets
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mgd.config import KEY
from mgd.engines.fim import FimPrompter
from mgd.vllm.common import FIM_ENV, FIM_TEMPLATE_ENV
from mgd.vllm.core import TAG_KEY
from monitors.errors import ConfigError

__all__ = ["MgdResponseMiddleware", "RPC_METHOD", "authorized", "error_body", "fim_request", "summary"]

log = logging.getLogger("mgd.vllm")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: The worker-extension method (:class:`mgd.vllm.rpc.MgdWorkerExtension`) that returns per-tag counters.
RPC_METHOD = "mgd_reports"
_PATHS = ("/v1/completions", "/v1/chat/completions")
_MAX_BODY = 64 * 1024 * 1024
_MAX_SEEN = 4096
#: vLLM's own API-key variable (``--api-key`` wins over it, as in vLLM).
_API_KEY_ENV = "VLLM_API_KEY"
#: The path prefixes vLLM's authentication guards.
_GUARDED = ("/v1", "/v2", "/inference", "/cohere")
#: Request fields vLLM refuses together with a suffix (and so does mgd when it takes the suffix).
_NOT_WITH_SUFFIX = ("echo", "prompt_embeds", "truncate_prompt_tokens")


def summary(report: dict[str, Any]) -> dict[str, int]:
    """The counters a response carries, from a request's report (:meth:`RequestMonitor.report`)."""
    keys = ("steps", "unguided_steps", "provisional_steps", "constrained_steps", "fallbacks")
    out = {k: int(report.get(k, 0) or 0) for k in keys}
    out["lookups"] = int(report.get("lsp_requests", 0) or 0) + int(report.get("lsp_shared", 0) or 0)
    return out


def _tag(body: bytes) -> tuple[bytes, str | None, dict[str, Any] | None]:
    """The request body with an mgd tag added, the tag, and what warming its workspace
    needs (``{"workspace", "mgd"}`` and ``"prefix"``, or ``"prompt"`` when the settings
    give no prefix; None without either); unchanged (None, None) when the request carries
    no ``mgd`` settings or is not a JSON object. A request that brings its own tag (a
    client that collects its counters itself over ``/collective_rpc``, as ``mgd bench
    --engine remote`` does) keeps it, and its tag here is None: reading the counters
    consumes them, so the response does not carry them."""
    try:
        data = json.loads(body)
    except ValueError:
        return body, None, None
    xargs = data.get("vllm_xargs") if isinstance(data, dict) else None
    if not isinstance(xargs, dict) or KEY not in xargs:
        return body, None, None
    own = isinstance(xargs.get(TAG_KEY), str) and bool(xargs[TAG_KEY])
    tag = None if own else f"http-{uuid.uuid4().hex}"
    if tag is not None:
        xargs[TAG_KEY] = tag
    warm = None
    try:
        raw = json.loads(xargs[KEY]) if isinstance(xargs[KEY], str) else xargs[KEY]
    except ValueError:
        raw = None
    if isinstance(raw, dict) and isinstance(raw.get("workspace"), str):
        prefix = raw.get("prefix")
        if isinstance(prefix, str):
            warm = {"workspace": raw["workspace"], "mgd": json.dumps(raw), "prefix": prefix}
        elif prefix is None and isinstance(data.get("prompt"), str):  # read back from its tokens by the worker
            warm = {"workspace": raw["workspace"], "mgd": json.dumps(raw), "prompt": data["prompt"]}
    return (body if own else json.dumps(data).encode()), tag, warm


def fim_request(data: dict[str, Any], layout: FimPrompter | None) -> str | None:
    """Rewrite a completions request ``data`` with a ``suffix`` in place for ``layout``
    (None or a layout without template: left-to-right); the reason for a 400 if the
    request cannot be taken, else None. A request without ``suffix`` (or ``null``) is
    left untouched.

    With a template the prompt becomes ``template.text(prompt, suffix)`` and the
    family's stop tokens join ``stop_token_ids``; without one the prompt stays as sent.
    Either way ``suffix`` leaves the body and the ``mgd`` settings (``vllm_xargs``) get
    ``prefix`` (the prompt as sent; not with ``heal``, which needs the caller's own)
    and ``suffix`` where they do not give them, so the monitors see the document."""
    suffix = data.get("suffix")
    if suffix is None:
        return None
    if not isinstance(suffix, str):
        return f"suffix must be a string, not {type(suffix).__name__}"
    prompt = data.get("prompt")
    if not isinstance(prompt, str):
        kind = "a batch of prompts" if isinstance(prompt, list) and prompt and isinstance(prompt[0], str) else (
            "token ids" if isinstance(prompt, list) else type(prompt).__name__)
        return f"suffix needs one text prompt (a string), not {kind}"
    for key in _NOT_WITH_SUFFIX:
        if data.get(key) is not None and (key != "echo" or data[key]):  # as vLLM: echo only when true
            return f"suffix is not supported with {key}"
    template = layout.template if layout is not None else None
    del data["suffix"]
    if template is not None and layout is not None:
        data["prompt"] = template.text(prompt, suffix)
        if layout.stop_ids:
            own = data.get("stop_token_ids")
            own = list(own) if isinstance(own, list) else []
            data["stop_token_ids"] = [*own, *(i for i in layout.stop_ids if i not in own)]
    xargs = data.get("vllm_xargs")
    if isinstance(xargs, dict) and KEY in xargs:
        given = xargs[KEY]
        try:
            raw = json.loads(given) if isinstance(given, str) else given
        except ValueError:  # vLLM's validation answers 400 with the reason
            return None
        if isinstance(raw, dict):
            raw = dict(raw)
            if raw.get("suffix") is None:
                raw["suffix"] = suffix
            if raw.get("prefix") is None and not raw.get("heal"):
                raw["prefix"] = prompt
            xargs[KEY] = json.dumps(raw) if isinstance(given, str) else raw
    return None


def error_body(message: str, param: str | None = "suffix") -> bytes:
    """An HTTP 400 body in OpenAI's (and vLLM's) error shape."""
    return json.dumps({"error": {"message": message, "type": "BadRequestError", "param": param,
                                 "code": 400}}).encode()


def authorized(scope: Scope) -> bool:
    """Whether vLLM's authentication lets this request in: no API key configured
    (``--api-key``, else ``VLLM_API_KEY``), or the ``Authorization: Bearer`` token is one
    of them (compared as vLLM does: SHA-256 digests, in constant time)."""
    args = getattr(getattr(scope.get("app"), "state", None), "args", None)
    keys = [k for k in (getattr(args, "api_key", None) or [os.environ.get(_API_KEY_ENV)]) if k]
    if not keys:
        return True
    path = str(scope.get("path", "")).removeprefix(str(scope.get("root_path", "")))
    if not path.startswith(_GUARDED):
        return True
    header = next((v for k, v in scope.get("headers", []) if k.lower() == b"authorization"), b"")
    scheme, _, token = header.decode("latin-1").partition(" ")
    if scheme.lower() != "bearer":
        return False
    digest = hashlib.sha256(token.encode("utf-8")).digest()
    ok = False
    for k in keys:
        ok |= secrets.compare_digest(digest, hashlib.sha256(str(k).encode("utf-8")).digest())
    return ok


class MgdResponseMiddleware:
    """Adds each mgd request's counters to its response and starts the warm-up of a
    workspace seen for the first time (see the module docstring)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app
        self._seen: set[str] = set()  # workspaces whose warm-up was started
        self._tasks: set[asyncio.Task[None]] = set()
        self.fim = os.environ.get(FIM_ENV) or "auto"
        self.fim_template = os.environ.get(FIM_TEMPLATE_ENV) or "auto"
        self._layout: FimPrompter | str | None = None  # resolved once (a string: why there is none)

    async def layout(self, scope: Scope) -> FimPrompter | str:
        """The served tokenizer's FIM layout under the operator's settings, resolved on
        the first request with a suffix; a string says why FIM cannot be had."""
        if self._layout is not None:
            return self._layout
        if self.fim == "off":
            self._layout = FimPrompter(None, {}, "fim = off")
            return self._layout
        client = getattr(getattr(scope.get("app"), "state", None), "engine_client", None)
        getter = getattr(client, "get_tokenizer", None)
        if getter is None:
            return "mgd serve: the served tokenizer is not available to the middleware"
        try:
            tokenizer = getter()
            if inspect.isawaitable(tokenizer):
                tokenizer = await tokenizer
            self._layout = FimPrompter.resolve(tokenizer, self.fim, self.fim_template)
        except ConfigError as exc:  # the operator's settings do not fit the model: every such request is told
            log.error("mgd serve: no FIM prompts: %s", exc)
            self._layout = f"mgd serve --fim {self.fim} --fim-template {self.fim_template}: {exc}"
        except Exception as exc:  # noqa: BLE001 - not cached: the next request asks again
            return f"mgd serve: the served tokenizer is not available to the middleware: {exc}"
        else:
            log.info("mgd serve: prompts with a suffix use %s (%s)",
                     self._layout.template.name if self._layout.template else "no FIM template", self._layout.source)
        return self._layout

    async def _suffix(self, scope: Scope, body: bytes) -> tuple[bytes, str | None]:
        """``body`` with its suffix taken (:func:`fim_request`), or the reason for a 400;
        a body without a suffix, a caller vLLM will refuse, or one that is not JSON is
        passed on as it is."""
        if scope.get("path") != "/v1/completions" or b'"suffix"' not in body or not authorized(scope):
            return body, None
        try:
            data = json.loads(body)
        except ValueError:
            return body, None
        if not isinstance(data, dict) or data.get("suffix") is None:
            return body, None
        layout = await self.layout(scope)
        if isinstance(layout, str):
            return body, layout
        error = fim_request(data, layout)
        return (body, error) if error is not None else (json.dumps(data).encode(), None)

    def _warm(self, scope: Scope, warm: dict[str, Any]) -> None:
        """Start warming ``warm``'s workspace if it is new (and the caller authorized);
        never waits: the engine's steps wait for the lookups within their own budgets."""
        ws = warm["workspace"]
        if ws in self._seen or not authorized(scope):
            return
        if len(self._seen) >= _MAX_SEEN:
            self._seen.clear()
        self._seen.add(ws)
        task = asyncio.ensure_future(_warm_up(scope, warm))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or scope.get("path") not in _PATHS:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # disconnected before the body was read
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body") or size > _MAX_BODY:
                break
        body = b"".join(chunks)
        if size <= _MAX_BODY:
            body, error = await self._suffix(scope, body)
            if error is not None:
                await _refuse(send, error)
                return
        tagged, tag, warm = (body, None, None) if size > _MAX_BODY else _tag(body)
        if tag is None:
            if warm is not None:
                self._warm(scope, warm)
            await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)
            return
        if size > _MAX_BODY:  # pragma: no cover - vLLM refuses such bodies anyway
            await self.app(scope, receive, send)
            return
        if warm is not None:
            self._warm(scope, warm)
        await self.app(scope, _replay([{"type": "http.request", "body": tagged, "more_body": False}], receive),
                       _Rewriter(scope, send, tag).send)


async def _warm_up(scope: Scope, warm: dict[str, Any]) -> None:
    """Ask the workers to warm ``warm``'s workspace (they start it and return at once).
    Errors (bad settings: the request itself gets its 400) are only logged."""
    client = getattr(getattr(scope.get("app"), "state", None), "engine_client", None)
    if client is None:
        return
    payload = json.dumps({k: v for k, v in warm.items() if k != "workspace"})
    try:
        await client.collective_rpc("mgd_warm", args=(payload,))
    except Exception as exc:  # noqa: BLE001 - a warm-up is an addition
        log.debug("mgd: no warm-up: %s", exc)


async def _refuse(send: Send, message: str) -> None:
    """Answer 400 with ``message`` in OpenAI's error shape."""
    body = error_body(message)
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that hands out ``messages`` first, then defers to ``then``."""
    queue = list(messages)

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


class _Rewriter:
    """Holds a JSON response until it is complete and adds ``"mgd"``; in an event stream,
    inserts one event with ``"mgd"`` before ``data: [DONE]``."""

    def __init__(self, scope: Scope, send: Send, tag: str) -> None:
        self.scope = scope
        self.downstream = send
        self.tag = tag
        self.start: Message | None = None
        self.mode = "pass"  # "json": held; "stream": events passed on, counters before [DONE]
        self.held: list[bytes] = []
        self.first_event: dict[str, Any] | None = None

    async def counters(self) -> dict[str, int] | None:
        app = self.scope.get("app")
        client = getattr(getattr(app, "state", None), "engine_client", None)
        if client is None:
            return None
        try:
            answers = await client.collective_rpc(RPC_METHOD, args=(json.dumps([self.tag]),))
        except Exception as exc:  # noqa: BLE001 - counters are an addition; the answer goes out regardless
            log.warning("mgd: no per-request counters (%s: %s); start the server with "
                        "--worker-extension-cls mgd.vllm.rpc.MgdWorkerExtension", type(exc).__name__, exc)
            return None
        for answer in answers or ():
            report = (answer or {}).get("requests", {}).get(self.tag) if isinstance(answer, dict) else None
            if report is not None:
                return summary(report)
        return None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = {k.lower(): v for k, v in message.get("headers", [])}
            ctype = headers.get(b"content-type", b"")
            if message.get("status") == 200 and ctype.startswith(b"application/json"):
                self.mode = "json"
                self.start = message
                return
            if message.get("status") == 200 and ctype.startswith(b"text/event-stream"):
                self.mode = "stream"
            await self.downstream(message)
            return
        if kind != "http.response.body" or self.mode == "pass":
            await self.downstream(message)
            return
        if self.mode == "json":
            self.held.append(message.get("body", b""))
            if message.get("more_body"):
                return
            await self._send_json()
            return
        body = message.get("body", b"")
        if b"data: [DONE]" in body:
            head, _, tail = body.partition(b"data: [DONE]")
            self._remember(head)
            event = await self._event()
            await self.downstream({"type": "http.response.body", "body": head + event + b"data: [DONE]" + tail,
                                   "more_body": message.get("more_body", False)})
            return
        self._remember(body)
        await self.downstream(message)

    async def _send_json(self) -> None:
        body = b"".join(self.held)
        assert self.start is not None
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            counts = await self.counters()
            if counts is not None:
                data["mgd"] = counts
                body = json.dumps(data).encode()
        headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.downstream({**self.start, "headers": headers})
        await self.downstream({"type": "http.response.body", "body": body, "more_body": False})

    def _remember(self, body: bytes) -> None:
        """Keep the first event's id, object, created and model (for the counters' event)."""
        if self.first_event is not None:
            return
        for line in body.split(b"\n"):
            if line.startswith(b"data: {"):
                try:
                    event = json.loads(line[6:])
                except ValueError:
                    continue
                self.first_event = {k: event[k] for k in ("id", "object", "created", "model") if k in event}
                return

    async def _event(self) -> bytes:
        counts = await self.counters()
        if counts is None:
            return b""
        event = {**(self.first_event or {}), "choices": [], "mgd": counts}
        return b"data: " + json.dumps(event).encode() + b"\n\n"
