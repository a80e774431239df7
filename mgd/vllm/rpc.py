"""Per-request mgd counters over HTTP: a vLLM worker extension for ``/collective_rpc``.

Start the server with ``VLLM_SERVER_DEV_MODE=1`` and
``--worker-extension-cls mgd.vllm.rpc.MgdWorkerExtension``; a client that tagged
its requests (``vllm_xargs["mgd_tag"]``) then gets their counters with
``POST /collective_rpc {"method": "mgd_reports", "args": ["[\\"tag\\", ...]"]}``
(one answer per worker; :class:`~mgd.engines.endpoints.RemoteGenerator` merges them).
The development endpoints are for trusted networks (evaluation clusters), not for
a public server.
"""

from __future__ import annotations

import json
from typing import Any

from mgd.vllm.offline import _mgd_processors, worker_details, worker_reports

__all__ = ["MgdWorkerExtension"]


class MgdWorkerExtension:
    """Mixed into vLLM's worker class by ``--worker-extension-cls``."""

    def mgd_reports(self, tags_json: str = "[]") -> dict[str, Any]:
        """Totals and per-tag counters of this worker's mgd processors (the tags are forgotten)."""
        tags = json.loads(tags_json)
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValueError("mgd_reports takes a JSON list of tag strings")
        return worker_reports(self, tags)

    def mgd_warm(self, payload_json: str) -> list[str]:
        """Start warming a request's workspace and return at once (``{"mgd": <settings JSON>,
        "prefix": text}``, or ``"prompt": text`` for the prompt of a request whose settings
        give no prefix; the settings are checked like a request's, allow-list included): a
        token per processor that asks language servers, for :meth:`mgd_warmed`."""
        payload = json.loads(payload_json)
        raw = json.loads(payload["mgd"]) if isinstance(payload["mgd"], str) else payload["mgd"]
        prompt = "prompt" in payload
        text = str(payload["prompt"] if prompt else payload["prefix"])
        tokens = []
        for p in _mgd_processors(self):
            if not p.where.asks_servers:
                continue
            tokens.append(p.core.warm(p.core.parse(raw), text, prompt=prompt))
        return tokens

    def mgd_warmed(self, tokens_json: str, give_up: bool = False) -> bool:
        """True once every warm-up of ``tokens_json`` is answered; ``give_up``: stop them now."""
        tokens = json.loads(tokens_json)
        done = True
        for p in _mgd_processors(self):
            for t in tokens:
                if give_up:
                    p.core.cancel_warm(t)
                else:
                    done &= p.core.warmed(t)
        return done

    def mgd_details(self) -> list[dict[str, Any]]:
        """Per mgd processor: its class, rank role, language-server pids and the recent
        lookups' server latencies (:func:`~mgd.vllm.offline.worker_details`)."""
        return worker_details(self)
