"""``mgd serve`` prompts a ``/v1/completions`` request with a ``suffix`` with fill-in-the-middle
(:func:`mgd.vllm.http.fim_request` and the response middleware), without a server: the
tiny model's own tokenizer (StarCoder's markers) gives the layout."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest

from mgd.engines.fim import FimPrompter
from mgd.vllm.http import MgdResponseMiddleware, fim_request

PROMPT = "for c in circles:\n    total += c."
SUFFIX = "\nreturn total\n"


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model))


@pytest.fixture(scope="module")
def layout(tokenizer) -> FimPrompter:
    """StarCoder's PSM layout (by name; ``auto`` takes the family's SPM one)."""
    found = FimPrompter.resolve(tokenizer, "auto", "starcoder")
    assert found.template is not None and not found.template.spm
    return found


def settings(**more: Any) -> str:
    return json.dumps({"workspace": "/w", "file": "a.py", **more})


def test_a_suffix_makes_the_templates_prompt_and_the_monitors_get_the_document(layout) -> None:
    data = {"prompt": PROMPT, "suffix": SUFFIX, "vllm_xargs": {"mgd": settings()}}
    assert fim_request(data, layout) is None
    assert "suffix" not in data
    assert data["prompt"] == f"<fim_prefix>{PROMPT}<fim_suffix>{SUFFIX}<fim_middle>"
    assert data["stop_token_ids"] == list(layout.stop_ids) and layout.stop_ids  # <file_sep>
    mgd = json.loads(data["vllm_xargs"]["mgd"])
    assert mgd["prefix"] == PROMPT and mgd["suffix"] == SUFFIX


def test_the_fim_prompt_tokenizes_with_single_marker_tokens(tokenizer, layout) -> None:
    data = {"prompt": PROMPT, "suffix": SUFFIX}
    fim_request(data, layout)
    ids = tokenizer(data["prompt"])["input_ids"]
    assert [i for i in ids if i in layout.markers.values()] == [layout.markers[m] for m in layout.template.markers]
    assert layout.head_of(ids) == tokenizer(PROMPT)["input_ids"]  # what the vLLM core reads back


def test_spm_puts_the_prefix_last(tokenizer, layout) -> None:
    spm = FimPrompter.resolve(tokenizer, "auto", "starcoder-spm")
    data = {"prompt": PROMPT, "suffix": SUFFIX}
    fim_request(data, spm)
    assert data["prompt"] == f"<fim_prefix><fim_suffix>{SUFFIX}<fim_middle>{PROMPT}"
    # the vLLM core resolves ``auto`` itself: whichever order the operator chose, it reads the prefix block
    auto = FimPrompter.resolve(tokenizer)
    psm = {"prompt": PROMPT, "suffix": SUFFIX}
    fim_request(psm, layout)
    for text in (data["prompt"], psm["prompt"]):
        assert auto.head_of(tokenizer(text)["input_ids"]) == tokenizer(PROMPT)["input_ids"], text


def test_the_requests_own_settings_and_stops_win(layout) -> None:
    data = {"prompt": PROMPT, "suffix": SUFFIX, "stop_token_ids": [7],
            "vllm_xargs": {"mgd": {"workspace": "/w", "file": "a.py", "prefix": "doc", "suffix": "rest"}}}
    assert fim_request(data, layout) is None
    assert data["vllm_xargs"]["mgd"] == {"workspace": "/w", "file": "a.py", "prefix": "doc", "suffix": "rest"}
    assert data["stop_token_ids"] == [7, *layout.stop_ids]


def test_heal_without_a_prefix_is_left_for_vllms_400(layout) -> None:
    """``heal`` needs the caller's own prefix (the prompt is the healed one): not filled in."""
    data = {"prompt": PROMPT, "suffix": SUFFIX, "vllm_xargs": {"mgd": settings(heal=True)}}
    fim_request(data, layout)
    mgd = json.loads(data["vllm_xargs"]["mgd"])
    assert "prefix" not in mgd and mgd["suffix"] == SUFFIX


@pytest.mark.parametrize("off", [None, FimPrompter(None, {}, "fim = off")])
def test_without_a_template_the_prompt_stays_and_the_monitors_get_the_suffix(off) -> None:
    data = {"prompt": PROMPT, "suffix": SUFFIX, "vllm_xargs": {"mgd": settings()}}
    assert fim_request(data, off) is None
    assert data["prompt"] == PROMPT and "suffix" not in data and "stop_token_ids" not in data
    assert json.loads(data["vllm_xargs"]["mgd"])["suffix"] == SUFFIX


@pytest.mark.parametrize("data", [{"prompt": PROMPT}, {"prompt": PROMPT, "suffix": None}, {"prompt": [1, 2]}])
def test_requests_without_a_suffix_are_untouched(layout, data) -> None:
    before = json.dumps(data)
    assert fim_request(data, layout) is None
    assert json.dumps(data) == before


@pytest.mark.parametrize(("change", "reason"), [
    ({"suffix": 3}, "suffix must be a string, not int"),
    ({"suffix": ["x"]}, "suffix must be a string, not list"),
    ({"prompt": [1, 2, 3]}, "not token ids"),
    ({"prompt": [[1, 2], [3]]}, "not token ids"),
    ({"prompt": ["a.", "b."]}, "not a batch of prompts"),
    ({"echo": True}, "not supported with echo"),
    ({"truncate_prompt_tokens": 0}, "not supported with truncate_prompt_tokens"),
])
def test_what_cannot_be_taken_is_refused_with_the_reason(layout, change, reason) -> None:
    data = {"prompt": PROMPT, "suffix": SUFFIX, **change}
    before = json.dumps(data)
    message = fim_request(data, layout)
    assert message is not None and reason in message and "suffix" in message
    assert json.dumps(data) == before


def test_echo_false_is_fine(layout) -> None:
    assert fim_request({"prompt": PROMPT, "suffix": SUFFIX, "echo": False}, layout) is None


# -- the middleware ------------------------------------------------------------------------------


class Engine:
    """What the middleware asks of vLLM's engine client: the served tokenizer and the counters."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.asked = 0

    def get_tokenizer(self) -> Any:
        self.asked += 1
        return self.tokenizer

    async def collective_rpc(self, method: str, args: tuple[Any, ...] = ()) -> list[Any]:
        return [{"requests": {}}]


def run(mw: MgdResponseMiddleware, app: Any, data: dict[str, Any], key: str | None = None) -> tuple[
        list[dict[str, Any]], list[bytes]]:
    """Send ``data`` through ``mw``; what went back, and the bodies the inner app received."""
    sent: list[dict[str, Any]] = []
    headers = [(b"content-type", b"application/json")]
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {"type": "http", "method": "POST", "path": "/v1/completions", "root_path": "", "headers": headers,
             "app": app}
    messages = [{"type": "http.request", "body": json.dumps(data).encode(), "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(mw(scope, receive, send), 5))
    return sent, seen


seen: list[bytes] = []


async def inner(scope: Any, receive: Any, send: Any) -> None:
    seen.append((await receive())["body"])
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b"{}", "more_body": False})


def app_with(engine: Engine, keys: list[str] | None = None) -> Any:
    return SimpleNamespace(state=SimpleNamespace(args=SimpleNamespace(api_key=keys), engine_client=engine))


def test_the_middleware_rewrites_once_resolved(monkeypatch, tokenizer) -> None:
    monkeypatch.delenv("MGD_SERVE_FIM", raising=False)
    monkeypatch.delenv("MGD_SERVE_FIM_TEMPLATE", raising=False)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    seen.clear()
    engine = Engine(tokenizer)
    mw = MgdResponseMiddleware(inner)
    app = app_with(engine)
    for _ in range(2):
        sent, bodies = run(mw, app, {"model": "m", "prompt": PROMPT, "suffix": SUFFIX})
        assert sent[0]["status"] == 200
        got = json.loads(bodies[-1])
        assert got["prompt"].startswith("<fim_prefix>") and "suffix" not in got
    assert engine.asked == 1  # resolved once
    sent, bodies = run(mw, app, {"model": "m", "prompt": PROMPT})  # no suffix: byte for byte as sent
    assert json.loads(bodies[-1]) == {"model": "m", "prompt": PROMPT}


def test_the_middleware_answers_400_in_openais_shape(monkeypatch, tokenizer) -> None:
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    seen.clear()
    mw = MgdResponseMiddleware(inner)
    sent, bodies = run(mw, app_with(Engine(tokenizer)), {"model": "m", "prompt": [5, 6], "suffix": SUFFIX})
    assert sent[0]["status"] == 400 and not bodies
    error = json.loads(sent[1]["body"])["error"]
    assert error["code"] == 400 and error["type"] == "BadRequestError" and error["param"] == "suffix"
    assert "token ids" in error["message"]


def test_a_caller_vllm_refuses_is_passed_on_as_sent(monkeypatch, tokenizer) -> None:
    """With an API key, the middleware leaves a stranger's request to vLLM's 401."""
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    seen.clear()
    engine = Engine(tokenizer)
    data = {"model": "m", "prompt": [5, 6], "suffix": SUFFIX}
    sent, bodies = run(MgdResponseMiddleware(inner), app_with(engine, ["k"]), data, key="wrong")
    assert json.loads(bodies[-1]) == data and engine.asked == 0


@pytest.mark.parametrize(("fim", "template", "prompt"), [
    ("off", "auto", PROMPT),
    ("auto", "starcoder-spm", f"<fim_prefix><fim_suffix>{SUFFIX}<fim_middle>{PROMPT}"),
    ("on", "starcoder", f"<fim_prefix>{PROMPT}<fim_suffix>{SUFFIX}<fim_middle>"),
])
def test_the_operators_settings_come_from_the_environment(monkeypatch, tokenizer, fim, template, prompt) -> None:
    monkeypatch.setenv("MGD_SERVE_FIM", fim)
    monkeypatch.setenv("MGD_SERVE_FIM_TEMPLATE", template)
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    seen.clear()
    _, bodies = run(MgdResponseMiddleware(inner), app_with(Engine(tokenizer)),
                    {"model": "m", "prompt": PROMPT, "suffix": SUFFIX})
    got = json.loads(bodies[-1])
    assert got["prompt"] == prompt and "suffix" not in got


def test_fim_on_without_fim_tokens_refuses_with_the_operators_setting(monkeypatch) -> None:
    monkeypatch.setenv("MGD_SERVE_FIM", "on")
    monkeypatch.delenv("VLLM_API_KEY", raising=False)
    seen.clear()
    plain = SimpleNamespace(get_vocab=lambda: {"a": 0}, bos_token_id=None)
    sent, bodies = run(MgdResponseMiddleware(inner), app_with(Engine(plain)),
                       {"model": "m", "prompt": PROMPT, "suffix": SUFFIX})
    assert sent[0]["status"] == 400 and not bodies
    assert "--fim on" in json.loads(sent[1]["body"])["error"]["message"]

