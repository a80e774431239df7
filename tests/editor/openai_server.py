"""A small OpenAI-compatible completions server for testing the remote engine.

A real process (stdlib HTTP, the tiny model, mgd monitors): ``POST /v1/completions``
with ``stream: true`` streams one SSE chunk per token, reading the mgd settings from
``vllm_xargs["mgd"]`` with the vLLM plugin's own parser when it is importable
(``mgd.config``), and guiding decoding with them. ``GET /v1/models``
lists the model; ``GET /stats`` returns what each request received and how it
ended (``disconnected`` when the client went away mid-stream).

Usage: ``python openai_server.py MODEL_PATH`` prints ``PORT <n>`` when ready.
Used only when ``mgd serve`` is not available.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mgd.engines.masking import mask_row
from mgd.session import MgdSession, SessionConfig

torch.set_num_threads(1)
MODEL = sys.argv[1]
tokenizer = AutoTokenizer.from_pretrained(MODEL)
model = AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()
session = MgdSession(tokenizer, SessionConfig(server="jedi", wait_s=10.0))
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

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": "tinycode", "object": "model"}]})
        elif self.path == "/stats":
            self._json(200, {"requests": RECORDS})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/v1/completions":
            self._json(404, {"error": "not found"})
            return
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        rec: dict[str, Any] = {"prompt": req["prompt"], "max_tokens": req["max_tokens"], "stop": req.get("stop"),
                               "tokens": 0, "ended": None, "mgd": None}
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


def main() -> None:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {httpd.server_address[1]}", flush=True)
    try:
        httpd.serve_forever()
    finally:
        session.close()


if __name__ == "__main__":
    main()
