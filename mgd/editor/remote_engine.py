"""The remote engine: an OpenAI-compatible ``/v1/completions`` server, streamed with httpx.

``mgd serve``, or vLLM with the mgd plugin (``vllm serve --api-key`` too), or a
hosted endpoint. The mgd settings go with each request as
``vllm_xargs["mgd"]`` (a JSON string: ``workspace``, ``file``, ``prefix`` (the
document prefix, for the monitors), ``suffix``, ``wait_ms``).

* **Auth and TLS**: ``Authorization: Bearer <key>`` when a key is set
  (``remote_api_key``, else ``$MGD_REMOTE_API_KEY`` or the variable named by
  ``remote_api_key_env``); certificates are checked (``remote_ca_file`` for a
  private CA; ``remote_tls_verify = false`` to turn it off). The key is never
  logged: errors name the URL, never the headers.
* **Timeouts**: connect ``min(10 s, remote_timeout_s)``, read/write/pool
  ``remote_timeout_s``; the latency budget cuts a slow stream short.
* **Streaming and cancellation**: the request runs on a private event loop
  (:class:`~lsp_bridge.loop.BackgroundLoop`, one pooled ``httpx.AsyncClient``);
  the worker thread polls the job's cancel flag every 10 ms and cancels the
  stream task, which closes the connection (vLLM aborts a request whose client
  went away).
* **FIM template**: ``fim_template`` from the configuration, else learned once
  from the server's ``/tokenize`` (vLLM's): the first family whose markers are
  single tokens there (:mod:`.fim`). Which one, and from where, is logged and in
  every job's stats (``fim_template``, ``fim_source``). A server that cannot say
  gets plain left-to-right prompts (``fim = "on"`` then is an error).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_bridge.loop import BackgroundLoop
from mgd.config import EditorOptions, MgdConfig
from mgd.editor.completion_shape import ShapeStop
from mgd.editor.protocol import EngineRequest, EngineResult
from mgd.engines.fim import TEMPLATES, FimTemplate, get_template, preferred
from monitors.errors import ConfigError, LspError

__all__ = ["INSTALL_HINT", "RemoteEngine", "api_key"]

log = logging.getLogger(__name__)

INSTALL_HINT = "the remote engine needs httpx: pip install 'mgd[remote]' (or pip install httpx)"
#: How often the worker looks at the cancel flag and the deadline while a stream runs.
_POLL_S = 0.01
#: Prompt text per token assumed when cutting the document for a server that tokenizes it.
_CHARS_PER_TOKEN = 4


def api_key(options: EditorOptions) -> str | None:
    """The API key: ``remote_api_key``, else the environment variable ``remote_api_key_env``."""
    return options.remote_api_key or os.environ.get(options.remote_api_key_env) or None


@dataclass(slots=True)
class _Stream:
    """What a stream produced so far (written by the loop thread, read after it ends)."""

    text: str = ""
    chunks: int = 0
    stopped: str = "length"


class RemoteEngine:
    """An OpenAI-compatible ``/v1/completions`` server with the mgd plugin, streamed."""

    name = "remote"

    def __init__(self, options: EditorOptions, config: MgdConfig | None = None) -> None:
        try:
            import httpx
        except ImportError:
            raise ConfigError(INSTALL_HINT) from None
        if not options.remote_url:
            raise ConfigError("the remote engine needs remote_url")
        url = urllib.parse.urlsplit(options.remote_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"remote_url must be an http(s) URL, not {options.remote_url!r}")
        base = url.path.rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        self.options = options
        self.url = urllib.parse.urlunsplit((url.scheme, url.netloc, base, "", ""))
        headers = {"User-Agent": "mgd-lsp"}
        key = api_key(options)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        verify: ssl.SSLContext | bool = options.remote_tls_verify
        if options.remote_ca_file:
            if not Path(options.remote_ca_file).is_file():
                raise ConfigError(f"remote_ca_file {options.remote_ca_file!r}: no such file")
            verify = ssl.create_default_context(cafile=options.remote_ca_file)
        timeout = httpx.Timeout(options.remote_timeout_s, connect=min(10.0, options.remote_timeout_s))
        self._httpx = httpx
        self._loop = BackgroundLoop("mgd-remote").start()

        async def make() -> Any:
            return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout, verify=verify)

        self._client = self._loop.run(make(), timeout=30.0)
        self._model = options.remote_model
        self._template: FimTemplate | None = None
        self.template_source: str | None = None  # None: not learned yet
        self._lock = threading.Lock()

    # -- what the server is ----------------------------------------------------------
    def _call(self, coro: Any) -> Any:
        return self._loop.run(coro, timeout=self.options.remote_timeout_s + 5.0)

    async def _get_json(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        resp = await self._client.request(method, path, json=body)
        try:
            data = resp.json()
        except ValueError:
            data = None
        return resp.status_code, data

    def _fail(self, what: str, exc: BaseException) -> LspError:
        return LspError(f"{what} at {self.options.remote_url} failed: {type(exc).__name__}: {exc}")

    def model_name(self) -> str:
        """The served model (asked once from ``/v1/models`` unless configured)."""
        if self._model is None:
            try:
                status, data = self._call(self._get_json("GET", "/v1/models"))
            except (self._httpx.HTTPError, OSError, TimeoutError, LspError) as exc:
                raise self._fail("listing models", exc) from exc
            if status != 200:
                raise LspError(f"{self.options.remote_url}: /v1/models answered {status}{_auth_hint(status)}")
            try:
                self._model = str(data["data"][0]["id"])
            except (TypeError, KeyError, IndexError) as exc:
                raise LspError(f"{self.options.remote_url}: /v1/models lists no model") from exc
        return self._model

    def template(self) -> FimTemplate | None:
        """The FIM template for prompts (learned once; None: left-to-right prompts)."""
        if self.template_source is not None:
            return self._template
        o = self.options
        if o.fim == "off":
            self._template, self.template_source = None, "fim = off"
        elif o.fim_template != "auto":
            self._template, self.template_source = get_template(o.fim_template), "configuration"
        else:
            self._template, self.template_source = self._learn_template()
            if self._template is None and o.fim == "on":
                raise ConfigError(f"fim = 'on' but the FIM template of {o.remote_url} is unknown "
                                  f"({self.template_source}); set fim_template")
        log.info("mgd lsp: remote model %s, FIM template %s (%s)", self._model,
                 self._template.name if self._template else "none", self.template_source)
        return self._template

    def _learn_template(self) -> tuple[FimTemplate | None, str]:
        """Ask ``/tokenize`` whether each family's markers are single tokens there."""
        model = self.model_name()

        async def single(text: str) -> int | None:
            status, data = await self._get_json(
                "POST", "/tokenize", {"model": model, "prompt": text, "add_special_tokens": False})
            if status != 200:
                raise LspError(f"/tokenize answered {status}")
            tokens = data.get("tokens") if isinstance(data, dict) else None
            return int(tokens[0]) if isinstance(tokens, list) and len(tokens) == 1 else None

        async def learn() -> FimTemplate | None:
            for template in TEMPLATES.values():
                if template.spm:  # detection picks the PSM layout of a family
                    continue
                ok = True
                for marker in template.markers:
                    if all([await single(s) is None for s in template.spellings(marker)]):
                        ok = False
                        break
                if ok:
                    return preferred(template)
            return None

        try:
            found = self._call(learn())
        except (self._httpx.HTTPError, OSError, TimeoutError, LspError) as exc:
            log.warning("mgd lsp: %s cannot tell its FIM tokens (%s): left-to-right prompts; set fim_template",
                        self.options.remote_url, exc)
            return None, f"unknown: the server's /tokenize failed ({exc})"
        return found, "the server's /tokenize" if found else "the server's /tokenize (no FIM tokens)"

    # -- one request -----------------------------------------------------------------
    def body(self, request: EngineRequest) -> dict[str, Any]:
        """The JSON body of one request (the prompt, the mgd settings)."""
        o = self.options
        head = request.prefix[-o.max_prompt_tokens * _CHARS_PER_TOKEN :]
        template = self.template()
        prompt = template.text(head, request.suffix[: o.max_suffix_tokens * _CHARS_PER_TOKEN]) if template else head
        body: dict[str, Any] = {
            "model": self.model_name(),
            "prompt": prompt,
            "max_tokens": request.max_new_tokens,
            "temperature": o.temperature,
            "stream": True,
        }
        if o.top_p < 1:
            body["top_p"] = o.top_p
        if o.seed is not None:
            body["seed"] = o.seed
        stops = [s for s in (template.stops if template else ()) if not s.startswith("▁")]
        if not request.shape.multiline:
            stops.insert(0, "\n")
        if stops:
            body["stop"] = stops
        if request.monitors and o.monitors:
            settings = {"workspace": str(request.workspace), "file": str(request.file), "prefix": request.prefix,
                        "suffix": request.suffix, "wait_ms": o.wait_ms}
            body["vllm_xargs"] = {"mgd": json.dumps(settings)}
        return body

    async def _stream(self, body: dict[str, Any], rule: ShapeStop, out: _Stream) -> None:
        headers = {"Accept": "text/event-stream"}
        async with self._client.stream("POST", "/v1/completions", json=body, headers=headers) as resp:
            if resp.status_code != 200:
                detail = (await resp.aread())[:2000].decode("utf-8", "replace")
                raise LspError(f"{self.options.remote_url} answered {resp.status_code}{_auth_hint(resp.status_code)}: "
                               f"{detail}")
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                choice = json.loads(data)["choices"][0]
                out.text += choice.get("text") or ""
                out.chunks += 1
                cut = rule.cut(out.text)
                if cut is not None:
                    out.text, out.stopped = out.text[:cut], "stop"
                    return
                reason = choice.get("finish_reason")
                if reason is not None:
                    out.stopped = "eos" if reason == "stop" else "length"
                    return

    def complete(self, request: EngineRequest, cancel: threading.Event) -> EngineResult:
        """Stream one completion; cancel or the deadline close the connection at once."""
        t0 = time.perf_counter()
        rule = ShapeStop(request.shape, self.options.max_lines)
        try:
            body = self.body(request)
        except (self._httpx.HTTPError, OSError, TimeoutError) as exc:
            raise self._fail("preparing the request", exc) from exc
        out = _Stream()
        fut = self._loop.submit(self._stream(body, rule, out))
        while True:
            done, _ = concurrent.futures.wait([fut], timeout=_POLL_S)
            if done:
                break
            if cancel.is_set() or time.perf_counter() >= request.deadline:
                out.stopped = "cancelled" if cancel.is_set() else "budget"
                fut.cancel()  # the task is cancelled on the loop: httpx closes the connection
                break
        if done:
            try:
                fut.result()
            except (self._httpx.HTTPError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                raise self._fail("the completion", exc) from exc
        text = out.text
        final = rule.finish(text) if out.stopped != "cancelled" else text
        stats = {"chunks": out.chunks, "fim_template": self._template.name if self._template else None,
                 "fim_source": self.template_source}
        return EngineResult(final, out.chunks, out.stopped, (time.perf_counter() - t0) * 1000.0, stats)

    def describe(self) -> dict[str, Any]:
        """What the engine knows about the server (for ``mgd.stats``; no secrets)."""
        shown = urllib.parse.urlsplit(self.url)
        assert shown.hostname  # __init__ refuses a URL without one
        where = urllib.parse.urlunsplit((shown.scheme, shown.hostname + (f":{shown.port}" if shown.port else ""),
                                         shown.path, "", ""))
        return {"engine": self.name, "url": where, "model": self._model,
                "fim_template": self._template.name if self._template else None, "fim_source": self.template_source,
                "api_key": bool(api_key(self.options))}

    def warm(self, workspace: Path, file: Path, text: str) -> None:
        return None

    def close(self) -> None:
        if self._loop.running:
            try:
                self._loop.run(self._client.aclose(), timeout=5.0)
            except (LspError, OSError, asyncio.CancelledError):  # closing: best effort
                pass
            self._loop.close()


def _auth_hint(status: int) -> str:
    if status in (401, 403):
        return " (unauthorized: set remote_api_key in [editor] or $MGD_REMOTE_API_KEY)"
    return ""
