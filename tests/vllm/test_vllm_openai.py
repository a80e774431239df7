"""``mgd serve`` through the official ``openai`` SDK, as a user would call it.

One server for the module, in vLLM's production shape (API server and engine in
separate processes, so ``validate_params`` runs in the front end), started with
``--api-key``, a chat template, and ``--lsp-cpus`` (the language servers on the
last CPU, vLLM on the others). Completions with ``extra_body={"vllm_xargs": ...}``,
streaming, eight concurrent requests, chat completions that continue the final
assistant message (the document prefix is given in the settings, because the
chat template wraps the prompt), the API key, bad settings as HTTP 400 with
the reason, and the OpenAI ``suffix`` field prompted with fill-in-the-middle (``--fim``
left at auto: the tiny model's tokenizer has StarCoder's markers).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import openai  # a dependency of vLLM's OpenAI server (and of mgd[vllm])
import pytest
from serving import cmdline, descendants, free_port, wait_healthy

pytestmark = pytest.mark.e2e

KEY = "mgd-test-key"
CIRCLE = {"area", "radius", "circumference", "scaled"}
RECT = {"length", "breadth", "area", "perimeter"}
TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'user' %}# request: {{ m['content'] }}\n"
    "{% elif m['role'] == 'assistant' %}{{ m['content'] }}{% endif %}"
    "{% endfor %}"
)


@pytest.fixture(scope="module")
def server(tiny_model, demo_project, tmp_path_factory):
    port = free_port()
    template = tmp_path_factory.mktemp("chat") / "template.jinja"
    template.write_text(TEMPLATE)
    lsp_cpu = max(os.sched_getaffinity(0))
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "MGD_ALLOWED_WORKSPACES": ""}
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)  # the production shape: engine in its own process
    cmd = [sys.executable, "-m", "mgd.cli", "serve", str(tiny_model), "--allow-workspace", str(demo_project),
           "--lsp-cpus", str(lsp_cpu), "--api-key", KEY, "--chat-template", str(template),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "2048", "--max-num-seqs", "8"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base, 400)
    yield proc, base, lsp_cpu
    proc.terminate()
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def client(server):
    _, base, _ = server
    return openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def site(demo_project):
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")
    settings = {"workspace": str(demo_project), "file": "report.py", "suffix": text[at:], "wait_ms": 30000}
    return text[:at], settings


def first_name(text: str) -> str:
    """The identifier the completion starts with."""
    found = re.match(r"\w+", text)
    return found.group(0) if found else ""


def legal(name: str, members: set[str]) -> bool:
    return bool(name) and any(m.startswith(name) for m in members)  # the completion may be cut


def test_completion_with_vllm_xargs(client, tiny_model, site) -> None:
    prompt, settings = site
    guided = client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=6, temperature=0,
                                       extra_body={"vllm_xargs": {"mgd": json.dumps(settings)}})
    assert legal(first_name(guided.choices[0].text), CIRCLE), guided.choices[0].text
    plain = client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=6, temperature=0)
    assert plain.choices[0].text != guided.choices[0].text  # untouched without mgd


def test_streaming_gives_the_same_constrained_text(client, tiny_model, site) -> None:
    prompt, settings = site
    body = {"vllm_xargs": {"mgd": json.dumps(settings)}}
    whole = client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=8, temperature=0,
                                      extra_body=body).choices[0].text
    chunks = [c.choices[0].text for c in client.completions.create(
        model=str(tiny_model), prompt=prompt, max_tokens=8, temperature=0, stream=True, extra_body=body)
        if c.choices]
    assert len(chunks) > 1 and "".join(chunks) == whole
    assert legal(first_name(whole), CIRCLE), whole


def test_each_response_says_how_many_steps_ran_unguided(client, tiny_model, site) -> None:
    """``response.mgd`` (mgd.vllm.http): the request's steps and the steps that ran free
    because mgd was late; in a stream, one event without choices before [DONE]; none on
    a request without mgd settings."""
    prompt, settings = site
    body = {"vllm_xargs": {"mgd": json.dumps(settings)}}
    waited = client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=6, temperature=0,
                                       extra_body=body)
    assert waited.mgd["steps"] == waited.usage.completion_tokens, waited.mgd
    assert waited.mgd["unguided_steps"] == 0, waited.mgd  # a 30 s budget: never late
    # A document the server has not seen and no time to wait: the step at the dot runs free.
    late = {**settings, "suffix": settings["suffix"] + "\n# unseen\n", "wait_ms": 0}
    fresh = client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=6, temperature=0,
                                      extra_body={"vllm_xargs": {"mgd": json.dumps(late)}})
    assert 1 <= fresh.mgd["unguided_steps"] <= fresh.mgd["steps"] == fresh.usage.completion_tokens, fresh.mgd
    events = list(client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=6, temperature=0,
                                            stream=True, extra_body=body))
    counted = [e.model_extra["mgd"] for e in events if not e.choices]
    assert len(counted) == 1 and counted[0]["steps"] == 6, counted
    assert "".join(e.choices[0].text for e in events if e.choices) == waited.choices[0].text
    plain = client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=6, temperature=0)
    assert "mgd" not in (plain.model_extra or {})


def test_eight_concurrent_requests(server, tiny_model, demo_project) -> None:
    """Concurrency 8 from one async client: every first member after the dot is legal."""
    _, base, _ = server
    text = (demo_project / "report.py").read_text()
    sites = []
    for needle, members in (("total += c.", CIRCLE), ("if r.", RECT), ("best.", RECT), ("radius {c.", CIRCLE),
                            ("{r.", RECT), ("return c.", CIRCLE), ("r.length > best.", RECT), ("total += c.", CIRCLE)):
        at = text.index(needle) + len(needle)
        sites.append((text[:at], {"workspace": str(demo_project), "file": "report.py", "suffix": text[at:],
                                  "wait_ms": 30000}, members))

    async def go() -> list[str]:
        async with openai.AsyncOpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=300) as c:
            outs = await asyncio.gather(*(c.completions.create(
                model=str(tiny_model), prompt=p, max_tokens=4, temperature=0,
                extra_body={"vllm_xargs": {"mgd": json.dumps(s)}}) for p, s, _ in sites))
        return [o.choices[0].text for o in outs]

    texts = asyncio.run(go())
    assert all(legal(first_name(t), m) for t, (_, _, m) in zip(texts, sites, strict=True)), texts


def test_chat_continues_the_document(client, tiny_model, site) -> None:
    """The chat template wraps the prompt, so the document text before the hole goes in
    ``prefix``; the reply continues the final assistant message (the code so far)."""
    prompt, settings = site
    tail = prompt[prompt.rindex("def total_area"):]
    reply = client.chat.completions.create(
        model=str(tiny_model), max_tokens=6, temperature=0,
        messages=[{"role": "user", "content": "finish the loop"}, {"role": "assistant", "content": tail}],
        extra_body={"add_generation_prompt": False, "continue_final_message": True,
                    "vllm_xargs": {"mgd": json.dumps({**settings, "prefix": prompt})}})
    text = reply.choices[0].message.content
    assert legal(first_name(text), CIRCLE), text
    assert reply.mgd["steps"] == reply.usage.completion_tokens, reply.mgd  # chat responses count too


@pytest.fixture(scope="module")
def fim_text(tiny_model):
    """The served tokenizer's FIM layout as text, and a token counter (as vLLM counts a
    completion prompt)."""
    from transformers import AutoTokenizer

    from mgd.engines.fim import FimPrompter

    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    template = FimPrompter.resolve(tok).template  # what --fim auto resolves to (StarCoder's markers)
    assert template is not None and template.prefix == "<fim_prefix>"
    return template.text, lambda text: len(tok(text)["input_ids"])


def test_a_suffix_is_prompted_with_fim(client, tiny_model, site, fim_text) -> None:
    """``suffix`` (the OpenAI field): the model sees the template's prompt, markers included."""
    prompt, settings = site
    text, count = fim_text
    out = client.completions.create(model=str(tiny_model), prompt=prompt, suffix=settings["suffix"], max_tokens=2,
                                    temperature=0)
    assert out.usage.prompt_tokens == count(text(prompt, settings["suffix"])), out.usage
    assert out.usage.prompt_tokens != count(prompt) and out.usage.prompt_tokens > count(prompt)
    assert "mgd" not in (out.model_extra or {})  # no mgd settings: a plain FIM completion


def test_guided_requests_with_a_suffix_stay_guided(client, tiny_model, site, fim_text) -> None:
    """The settings give neither prefix nor suffix: the monitors get the document from the
    request (its prompt, its suffix), the model its FIM prompt; streamed and not."""
    prompt, settings = site
    text, count = fim_text
    bare = {k: v for k, v in settings.items() if k != "suffix"}
    body = {"vllm_xargs": {"mgd": json.dumps(bare)}}
    whole = client.completions.create(model=str(tiny_model), prompt=prompt, suffix=settings["suffix"], max_tokens=6,
                                      temperature=0, extra_body=body)
    assert whole.usage.prompt_tokens == count(text(prompt, settings["suffix"]))
    assert legal(first_name(whole.choices[0].text), CIRCLE), whole.choices[0].text
    assert whole.mgd["constrained_steps"] >= 1 and whole.mgd["unguided_steps"] == 0, whole.mgd
    assert whole.mgd["steps"] == whole.usage.completion_tokens, whole.mgd
    events = list(client.completions.create(model=str(tiny_model), prompt=prompt, suffix=settings["suffix"],
                                            max_tokens=6, temperature=0, stream=True, extra_body=body))
    counted = [e.model_extra["mgd"] for e in events if not e.choices]
    assert len(counted) == 1 and counted[0]["constrained_steps"] >= 1, counted
    assert "".join(e.choices[0].text for e in events if e.choices) == whole.choices[0].text


@pytest.mark.parametrize(("change", "reason"), [
    ({"suffix": 3}, "suffix must be a string"),
    ({"suffix": {"text": "x"}}, "suffix must be a string"),
    ({"prompt": [5, 6, 7]}, "not token ids"),
    ({"prompt": ["a = 1\n", "b = 2\n"]}, "not a batch of prompts"),
    ({"echo": True}, "not supported with echo"),
])
def test_a_suffix_that_cannot_be_taken_is_400_with_the_reason(server, tiny_model, site, change, reason) -> None:
    """Raw HTTP (the SDK's types would stop some of these before they are sent)."""
    _, base, _ = server
    prompt, settings = site
    body = {"model": str(tiny_model), "prompt": prompt, "suffix": settings["suffix"], "max_tokens": 2, **change}
    req = urllib.request.Request(base + "/v1/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=120)
    assert err.value.code == 400
    error = json.loads(err.value.read())["error"]
    assert reason in error["message"] and error["code"] == 400 and error["param"] == "suffix", error


def test_api_key_is_required(server, tiny_model, site) -> None:
    _, base, _ = server
    prompt, settings = site
    stranger = openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0, timeout=60)
    with pytest.raises(openai.AuthenticationError):
        stranger.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=2,
                                    extra_body={"vllm_xargs": {"mgd": json.dumps(settings)}})


@pytest.mark.parametrize(("change", "reason"), [
    ({"colour": "red"}, "unknown mgd setting"),
    ({"workspace": "/tmp"}, "outside the allowed workspaces"),
    ({"wait_ms": "soon"}, "wait_ms"),
    ({"file": "../../etc/passwd"}, "passwd"),
])
def test_bad_settings_are_400_with_the_reason(client, tiny_model, site, change, reason) -> None:
    prompt, settings = site
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=2,
                                  extra_body={"vllm_xargs": {"mgd": json.dumps({**settings, **change})}})
    assert err.value.status_code == 400 and reason in str(err.value), str(err.value)


def test_language_servers_run_on_their_cpus(server, client, tiny_model, site) -> None:
    """``--lsp-cpus``: the language servers (and their children) on the reserved CPU, vLLM on the rest."""
    proc, _, lsp_cpu = server
    prompt, settings = site
    client.completions.create(model=str(tiny_model), prompt=prompt, max_tokens=2,
                              extra_body={"vllm_xargs": {"mgd": json.dumps(settings)}})
    pids = descendants(proc.pid)
    jedi = [p for p in pids if "jedi-language-server" in cmdline(p)]
    assert jedi, "no language server under mgd serve"
    for p in jedi + [c for j in jedi for c in descendants(j)]:
        assert os.sched_getaffinity(p) == {lsp_cpu}
    servers = set(jedi) | {c for j in jedi for c in descendants(j)}
    engine = [p for p in pids if p not in servers]
    assert any("vllm.entrypoints" in cmdline(p) for p in engine)
    assert all(lsp_cpu not in os.sched_getaffinity(p) for p in engine if Path(f"/proc/{p}").exists())
