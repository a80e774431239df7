"""A small OpenAI-compatible completions server for testing the remote engine.

A real process (stdlib HTTP, the tiny model, mgd monitors): ``POST /v1/completions``
with ``stream: true`` streams one SSE chunk per token, reading the mgd settings from
``vllm_xargs["mgd"]`` with the vLLM plugin's own parser when it is importable
(``mgd.config``), and guiding decoding with them. ``GET /v1/models``
lists the model; ``POST /tokenize`` answers like vLLM's (``{"tokens": [...]}``,
with ``--tokenizer DIR`` from another tokenizer than the model's, to serve a
stand-in family); ``GET /stats`` returns what each request received, the
``Authorization`` header it carried (``bearer`` / ``none``, never the key) and how
it ended (``disconnected`` when the client went away mid-stream). With
``--api-key KEY`` every ``/v1`` and ``/tokenize`` request without
``Authorization: Bearer KEY`` gets 401, as ``vllm serve --api-key`` does; with
``--tls CERT KEY`` it serves https.

Usage: ``python openai_server.py MODEL_PATH [--api-key K] [--tokenizer DIR]
[--tls CERT KEY]`` prints ``PORT <n>`` when ready. Used only when ``mgd serve``
is not available.
"""

from __future__ import annotations

import argparse
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mgd.engines.masking import mask_row
from mgd.session import MgdSession, SessionConfig

torch.set_num_threads(1)
ARGS = argparse.ArgumentParser()
ARGS.add_argument("model")
ARGS.add_argument("--api-key")
ARGS.add_argument("--tokenizer", help="tokenizer for /tokenize (default: the model's)")
ARGS.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
OPTS = ARGS.parse_args()
MODEL = OPTS.model
tokenizer = AutoTokenizer.from_pretrained(MODEL)
tokenize_with = AutoTokenizer.from_pretrained(OPTS.tokenizer) if OPTS.tokenizer else tokenizer
model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()
session = MgdSession(tokenizer, SessionConfig(server="jedi", wait_ms=10_000))
LOCK = threading.Lock()
RECORDS: list[dict[str, Any]] = []


def parse_settings(raw: Any) -> dict[str, Any]:
    try:
        from mgd.config import MgdSettings
    except ImportError:  # the plugin is not there: plain JSON
        data = json.loads(raw) if isinstance(raw, str) else raw
        return {"workspace": data["workspace"], "file": data["file"], "prefix": data.get("prefix"),
                "suffix": data.get("suffix", ""), "parser": "json"}
    s = MgdSettings.parse(raw, (Path("/"),))
    return {"workspace": str(s.workspace), "file": str(s.file), "prefix": s.prefix, "suffix": s.suffix,
            "parser": "mgd.config"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _json(self, code: int, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self) -> bool:
        """As ``vllm serve --api-key``: 401 unless the right bearer token came."""
        if OPTS.api_key is None or self.headers.get("Authorization") == f"Bearer {OPTS.api_key}":
            return True
        RECORDS.append({"path": self.path, "ended": "unauthorized", "auth": _auth(self.headers)})
        self._json(401, {"error": {"message": "Unauthorized"}})
        return False

    def do_GET(self) -> None:
        if self.path != "/stats" and not self._authorized():
            return
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "tinycode", "object": "model"}]})
        elif self.path == "/stats":
            self._json(200, {"requests": RECORDS})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if not self._authorized():
            return
        if self.path == "/tokenize":
            ids = tokenize_with(req["prompt"], add_special_tokens=bool(req.get("add_special_tokens", True))).input_ids
            self._json(200, {"tokens": ids, "count": len(ids), "max_model_len": 2048})
            return
        if self.path != "/v1/completions":
            self._json(404, {"error": "not found"})
            return
        rec: dict[str, Any] = {"prompt": req["prompt"], "max_tokens": req["max_tokens"], "stop": req.get("stop"),
                               "tokens": 0, "ended": None, "mgd": None, "auth": _auth(self.headers)}
        RECORDS.append(rec)
        guide = None
        xargs = req.get("vllm_xargs") or {}
        if "mgd" in xargs:
            try:
                s = parse_settings(xargs["mgd"])
            except ValueError as exc:
                rec["ended"] = "bad settings"
                self._json(400, {"error": {"message": str(exc)}})
                return
            rec["mgd"] = s
            guide = session.guide(s["workspace"], s["file"], s["prefix"] or req["prompt"], s["suffix"])
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        ids = tokenizer(req["prompt"], add_special_tokens=False).input_ids
        stops = req.get("stop") or []
        text = ""
        cache = None
        step = torch.tensor([ids])
        finish = "length"
        try:
            with LOCK, torch.inference_mode():
                for _ in range(int(req["max_tokens"])):
                    out = model(input_ids=step, cache=cache, use_cache=True, logits_to_keep=1)
                    cache = out.cache
                    logits = out.logits[0, -1]
                    if guide is not None:
                        allowed = guide.allowed()
                        if allowed.ids is not None:
                            mask_row(logits, allowed.ids)
                    tid = int(torch.argmax(logits))
                    if tid in tokenizer.all_special_ids:
                        finish = "stop"
                        break
                    if guide is not None:
                        guide.advance([tid])
                    piece = tokenizer.decode([tid])
                    if any(s in text + piece for s in stops):
                        finish = "stop"
                        break
                    text += piece
                    rec["tokens"] += 1
                    chunk = {"choices": [{"index": 0, "text": piece, "finish_reason": None}]}
                    self.wfile.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
                    self.wfile.flush()
                    step = torch.tensor([[tid]])
            last = {"choices": [{"index": 0, "text": "", "finish_reason": finish}]}
            self.wfile.write(b"data: " + json.dumps(last).encode() + b"\n\ndata: [DONE]\n\n")
            self.wfile.flush()
            rec["ended"] = finish
        except (BrokenPipeError, ConnectionResetError):
            rec["ended"] = "disconnected"
        if guide is not None:
            rec["guide"] = guide.report()


def _auth(headers: Any) -> str:
    value = headers.get("Authorization") or ""
    return "bearer" if value.startswith("Bearer ") else "none"


def main() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if OPTS.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*OPTS.tls)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    print(f"PORT {httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever()
    finally:
        session.close()


if __name__ == "__main__":
    main()
