"""mgd's MRV2 processor through vLLM's own MRV2 classes, with and without speculation.

The harness (:mod:`mrv2_harness`) is vLLM's ``RequestState``, its processor loader
and ``Sampler.apply_sampling_params``, the call both plain sampling and speculative
verification make (real jedi, the real tiny model's tokenizer). The property: the
mask on every draft row equals the mask the same text gets without speculation, so
guided output with speculation equals guided output without it.

Speculative methods differ only in where drafts come from (n-gram: the prompt;
EAGLE/EAGLE-3, MTP, draft model: a model); the rows a logits processor sees are
laid out the same for all of them (``RejectionSampler._verify``: row 0 the last
committed token, row ``j`` the ``j``-th draft), so realistic drafts fed here cover
every method MRV2 runs: drafts that are all accepted, drafts that diverge (rejected,
then rolled back), and placeholder drafts (-1, the padded first step after a KV
transfer).
"""

from __future__ import annotations

import pytest
import torch
from mrv2_harness import Harness, engine_config

STEPS = 3  # draft tokens per step (num_speculative_steps)


@pytest.fixture(scope="module")
def env(tiny_model, tiny_tokenizer, demo_project, allowed_workspaces):
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")
    enc = tiny_tokenizer.encode
    mgd = {"workspace": str(demo_project), "file": "report.py", "suffix": text[at:], "prefix": text[:at],
           "wait_ms": 30_000}
    plain = Harness(engine_config(str(tiny_model)), len(tiny_tokenizer), steps=0)  # the entry point alone
    spec = Harness(engine_config(str(tiny_model), logits_processors=["mgd.vllm.plugin:MgdExplicitProcessor"]),
                   len(tiny_tokenizer), steps=STEPS)
    env = {"plain": plain, "spec": spec, "prompt": enc(text[:at], add_special_tokens=False), "mgd": mgd,
           "truth": enc(text[at:at + 40], add_special_tokens=False)[:12],  # "area()\n    return total\n..."
           "other": enc("radius * 2", add_special_tokens=False), "n": 0}
    yield env
    plain.close()
    spec.close()


def _new(env, h: Harness) -> tuple[str, int]:
    env["n"] += 1
    rid = f"r{env['n']}"
    return rid, h.add(rid, env["prompt"], {"mgd": env["mgd"]})


def plain_rows(env, seq: list[int]) -> list[torch.Tensor]:
    """Without speculation: the processed row before each token of ``seq`` and after the last."""
    h = env["plain"]
    rid, slot = _new(env, h)
    rows = []
    for i in range(len(seq) + 1):
        rows.append(h.step({slot: []})[0].clone())
        if i < len(seq):
            h.commit(slot, [seq[i]])
    h.state.remove_request(rid)
    return rows


def masked(row: torch.Tensor) -> int:
    return int((~torch.isfinite(row)).sum())


def test_only_one_mgd_processor_is_active(env) -> None:
    active = [p for p in env["spec"].procs if type(p).__module__.startswith("mgd.") and getattr(p, "enabled", False)]
    assert len(active) == 1  # the explicit one; the entry-point instance is inert
    assert [type(p).__name__ for p in env["plain"].procs] == ["MgdV2LogitsProcessor"]


def test_accepted_drafts_get_the_masks_of_plain_decoding(env) -> None:
    truth = env["truth"]
    want = plain_rows(env, truth)
    assert masked(want[0]) > 0 and sum(masked(r) > 0 for r in want) >= 2  # the monitors do constrain this text
    h = env["spec"]
    rid, slot = _new(env, h)
    done = 0
    while done + STEPS < len(truth):
        drafts = truth[done:done + STEPS]  # an n-gram proposer that guessed right
        rows = h.step({slot: drafts})
        assert rows.shape[0] == STEPS + 1
        for j in range(STEPS + 1):
            assert torch.equal(rows[j], want[done + j]), f"row {j} after {done} committed tokens"
        h.commit(slot, [*drafts, truth[done + STEPS]])  # all accepted, plus the bonus token
        done += STEPS + 1
    h.state.remove_request(rid)


def test_rejected_drafts_roll_back(env) -> None:
    truth, other = env["truth"], env["other"][:STEPS]
    h = env["spec"]
    rid, slot = _new(env, h)
    rows = h.step({slot: other})  # drafts that diverge from what is sampled ("radius" vs "area")
    want = plain_rows(env, other)
    for j in range(STEPS + 1):
        assert torch.equal(rows[j], want[j]), f"diverging draft row {j}"
    h.commit(slot, [truth[0]])  # every draft rejected; the recovery token is the true one
    rows = h.step({slot: truth[1:1 + STEPS]})
    want = plain_rows(env, truth[:1 + STEPS])
    for j in range(STEPS + 1):
        assert torch.equal(rows[j], want[1 + j]), f"row {j} after the rollback"
    h.state.remove_request(rid)


def test_placeholder_drafts_are_not_fed_to_the_guide(env) -> None:
    truth = env["truth"]
    h = env["spec"]
    rid, slot = _new(env, h)
    rows = h.step({slot: [-1] * STEPS})  # the padded first step after a KV transfer
    want = plain_rows(env, truth[:STEPS + 1])
    assert torch.equal(rows[0], want[0])
    for j in range(1, STEPS + 1):
        assert masked(rows[j]) == 0, f"placeholder row {j} was masked"
    h.commit(slot, [truth[0]])
    rows = h.step({slot: truth[1:1 + STEPS]})  # the request's state was not touched by the placeholders
    for j in range(STEPS + 1):
        assert torch.equal(rows[j], want[1 + j]), f"row {j} after the placeholder step"
    h.state.remove_request(rid)


def test_offline_helpers_find_mrv2_processors(env) -> None:
    """Reports and close look where MRV2 keeps processors (``model_runner.sampler``), not only
    at the V1 runner's ``input_batch``/``custom_logitsprocs``."""
    from types import SimpleNamespace

    from mgd.vllm.offline import worker_close, worker_reports

    worker = SimpleNamespace(model_runner=SimpleNamespace(sampler=env["spec"].sampler))
    totals = worker_reports(worker)["totals"]
    assert totals["requests"] >= 3 and totals["draft_rows"] > 0  # the requests of the tests above
    assert worker_close(worker) == 1  # the explicit processor; the inert entry-point one is not counted
