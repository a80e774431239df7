"""V1 runner with async scheduling (the GPU default before MRV2): vLLM's own input batch, on CPU.

Under async scheduling the V1 runner appends a placeholder (-1) for the token a step
sampled and fills it in just before the next sampling, in
``InputBatch.update_async_output_token_ids``, only when
``logitsprocs_need_output_token_ids`` is set, which ``GPUModelRunner`` sets only
for *explicitly registered* processors. CPU forces async scheduling off, so an
engine here never shows it; these tests build vLLM's real config (async scheduling
turned on, as vLLM resolves it on a GPU), its V1 ``build_logitsprocs`` and its real
``InputBatch``, and play the runner's part: add the request, append the
placeholder, hand over the sampled ids, repair, apply.

- explicitly registered, the placeholder is repaired before ``apply()`` and the row
  is masked exactly as the same text is without async scheduling;
- what an entry-point processor gets (the flag off): the placeholder stays and the
  row would run free, so the entry-point instance refuses at start-up instead, naming
  the way out, and requests with ``mgd`` settings are refused with that reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from mrv2_harness import engine_config
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import build_logitsprocs
from vllm.v1.worker.gpu_input_batch import CachedRequestState, InputBatch

from mgd.vllm.common import EXPLICIT_PROCESSOR

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def case(tiny_model, tiny_tokenizer, demo_project, allowed_workspaces):
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")
    mgd = {"workspace": str(demo_project), "file": "report.py", "suffix": text[at:], "prefix": text[:at],
           "wait_ms": 30_000}
    cfg = engine_config(str(tiny_model), logits_processors=[EXPLICIT_PROCESSOR])
    cfg.scheduler_config.async_scheduling = True  # as on a GPU (CPU forces it off)
    return {"cfg": cfg, "mgd": mgd, "prompt": tiny_tokenizer.encode(text[:at], add_special_tokens=False),
            "first": tiny_tokenizer.encode("area", add_special_tokens=False)[0], "vocab": len(tiny_tokenizer)}


def _request(case, rid: str, output: list[int]) -> CachedRequestState:
    return CachedRequestState(req_id=rid, prompt_token_ids=list(case["prompt"]), mm_features=[],
                              sampling_params=SamplingParams(max_tokens=16, extra_args={"mgd": case["mgd"]}),
                              generator=None, block_ids=([],), num_computed_tokens=len(case["prompt"]),
                              output_token_ids=output)


def _apply(batch: InputBatch, vocab: int) -> torch.Tensor:
    logits = torch.zeros(batch.num_reqs, vocab)
    for p in batch.logitsprocs.non_argmax_invariant:
        logits = p.apply(logits)
    return logits


def _masked(row: torch.Tensor) -> int:
    return int((~torch.isfinite(row)).sum())


@pytest.mark.parametrize("need_ids", [True, False], ids=["explicit", "entry-point-flag"])
def test_placeholders_under_async_scheduling(case, need_ids: bool) -> None:
    cfg = case["cfg"]
    custom = tuple(cfg.model_config.logits_processors or ())
    assert cfg.scheduler_config.async_scheduling and not cfg.use_v2_model_runner
    procs = build_logitsprocs(cfg, CPU, False, False, custom)  # as GPUModelRunner does
    batch = InputBatch(max_num_reqs=4, max_model_len=2048, max_num_batched_tokens=2048, device=CPU,
                       vocab_size=case["vocab"], block_sizes=[16], max_num_blocks_per_req=[128], logitsprocs=procs,
                       logitsprocs_need_output_token_ids=need_ids and bool(custom))  # GPUModelRunner's rule
    try:
        req = _request(case, "a", [])
        batch.add_request(req)
        batch.refresh_metadata()
        first = _apply(batch, case["vocab"])[0]
        assert _masked(first) > 0 and torch.isfinite(first[case["first"]])  # "c." -> members only
        # The step sampled "area"; async scheduling appends a placeholder and copies the ids later.
        req.output_token_ids.append(-1)
        batch.prev_req_id_to_index = {"a": 0}
        batch.refresh_metadata()
        batch.set_async_sampled_token_ids(torch.tensor([[case["first"]]]), torch.Event())
        batch.update_async_output_token_ids()  # what the runner calls right before sampling
        row = _apply(batch, case["vocab"])[0]
        # The same text without async scheduling: a request whose output already holds "area".
        ref = InputBatch(max_num_reqs=4, max_model_len=2048, max_num_batched_tokens=2048, device=CPU,
                         vocab_size=case["vocab"], block_sizes=[16], max_num_blocks_per_req=[128], logitsprocs=procs,
                         logitsprocs_need_output_token_ids=True)
        ref.add_request(_request(case, "b", [case["first"]]))
        ref.refresh_metadata()
        want = _apply(ref, case["vocab"])[0]
        assert _masked(want) > 0
        if need_ids:
            assert req.output_token_ids == [case["first"]]
            assert torch.equal(row, want)
        else:  # the placeholder stays: an entry-point processor would leave the row free
            assert req.output_token_ids == [-1]
            assert _masked(row) == 0
    finally:
        for p in procs.all:
            close = getattr(p, "close", None)
            if callable(close):
                close()


_REFUSE = r'''
import json, sys
sys.path.insert(0, sys.argv[3])
from mrv2_harness import engine_config, CPU
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import build_logitsprocs
from vllm.v1.sample.logits_processor.interface import BatchUpdate
import mgd.vllm.plugin as plugin
cfg = engine_config(sys.argv[1])
cfg.scheduler_config.async_scheduling = True
procs = build_logitsprocs(cfg, CPU, False, False, ())
mine = [p for p in procs.all if type(p).__module__.startswith("mgd.")]
kinds = [type(p).__name__ for p in mine]
params = SamplingParams(extra_args={"mgd": {"workspace": sys.argv[2], "file": "report.py"}})
for p in mine:  # a request that reached the engine anyway (a multiprocess front end cannot refuse it)
    p.update_state(BatchUpdate(batch_size=1, removed=[], added=[(0, params, [1, 2], [])], moved=[]))
try:
    plugin.MgdLogitsProcessor.validate_params(params)
    refused = None
except ValueError as exc:
    refused = str(exc)
print("RESULT " + json.dumps({"kinds": kinds, "problem": plugin.load_problem(), "refused": refused}))
'''


def test_entry_point_refuses_async_v1_at_start_up(tiny_model, demo_project, allowed_workspaces) -> None:
    here = os.path.dirname(__file__)
    proc = subprocess.run([sys.executable, "-c", _REFUSE, str(tiny_model), str(demo_project), here],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["kinds"] == ["_RefusingV1"]  # never guides with placeholders
    for text in (out["problem"], out["refused"], proc.stderr):  # logged at start-up, and the reason of a 400
        assert text and "async scheduling" in text and EXPLICIT_PROCESSOR in text and "--no-async-scheduling" in text
    assert "a request with 'mgd' settings runs UNCONSTRAINED" in proc.stderr
