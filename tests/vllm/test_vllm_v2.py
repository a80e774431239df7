"""Model-Runner-V2 processor, unit-tested with hand-built request state and contexts.

CPU vLLM runs the V1 runner, so the V2 processor is driven here the way the V2
sampler drives it: ``add_request`` per slot, then ``apply(logits, ctx)`` with
rows mapped to slots, including speculative rows (one per draft token) that must
be masked from the monitor state the drafts before them reach, while only
committed tokens advance the request's state. Real jedi, real tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from vllm import SamplingParams
from vllm.v1.worker.gpu.sample.logits_processor import LogitsContext, LogitsProcRequestState

from mgd.vllm.common import EXPLICIT_PROCESSOR
from mgd.vllm.plugin import MgdExplicitProcessor, MgdLogitsProcessor
from mgd.vllm.v1 import MgdV1LogitsProcessor
from mgd.vllm.v2 import MgdV2LogitsProcessor

MAX_REQS, MAX_LEN = 4, 1024
CIR, CUM, FERENCE, AREA, RADIUS, CALL, NEWLINE = 7039, 5625, 1201, 10990, 6871, 327, 204


def fake_config(model: Path, registered=None):
    mc = SimpleNamespace(tokenizer=str(model), model=str(model), logits_processors=registered)
    return SimpleNamespace(model_config=mc)


@pytest.fixture(scope="module")
def setup(tiny_model, tiny_tokenizer, demo_project, allowed_workspaces):
    vocab = len(tiny_tokenizer)
    all_ids = torch.zeros((MAX_REQS, MAX_LEN), dtype=torch.int64)
    prompt_len = np.zeros(MAX_REQS, dtype=np.int32)
    state = LogitsProcRequestState(
        device=torch.device("cpu"), max_num_reqs=MAX_REQS, vocab_size=vocab,
        all_token_ids=SimpleNamespace(gpu=all_ids), prompt_len=SimpleNamespace(np=prompt_len),
        prefill_len=SimpleNamespace(np=prompt_len.copy()), total_len=SimpleNamespace(gpu=torch.zeros(MAX_REQS)),
    )
    proc = MgdLogitsProcessor(fake_config(tiny_model), state)
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")
    prompt = tiny_tokenizer.encode(text[:at], add_special_tokens=False)[-200:]
    mgd = {"workspace": str(demo_project), "file": "report.py", "suffix": text[at:], "prefix": text[:at],
           "wait_ms": 30_000}
    yield SimpleNamespace(proc=proc, all_ids=all_ids, prompt_len=prompt_len, prompt=prompt, mgd=mgd, vocab=vocab)
    proc.close()


def admit(s, slot: int, mgd: dict | None) -> bool:
    n = len(s.prompt)
    s.all_ids[slot, :n] = torch.tensor(s.prompt)
    s.prompt_len[slot] = n
    return s.proc.add_request(slot, SamplingParams(extra_args={"mgd": mgd} if mgd else None))


def ctx_for(rows: list[tuple[int, int, int, int]]) -> LogitsContext:
    """rows: (slot, local position, input token, position)."""
    slots = [r[0] for r in rows]
    uniq = list(dict.fromkeys(slots))
    return LogitsContext(
        expanded_idx_mapping=torch.tensor(slots), idx_mapping=torch.tensor(uniq),
        idx_mapping_np=np.array(uniq), expanded_local_pos=torch.tensor([r[1] for r in rows]),
        input_ids=torch.tensor([r[2] for r in rows]), pos=torch.tensor([r[3] for r in rows]),
        seq_lens_upper_bound_np=np.array([MAX_LEN] * len(uniq)),
    )


def allowed(row: torch.Tensor) -> set[int]:
    return set(torch.nonzero(torch.isfinite(row)).flatten().tolist())


def test_dispatch_by_runner(tiny_model, allowed_workspaces) -> None:
    cfg = fake_config(tiny_model)
    v1 = MgdLogitsProcessor(cfg, torch.device("cpu"), False)
    assert isinstance(v1, MgdV1LogitsProcessor) and v1.enabled and not v1.is_argmax_invariant()
    # An explicit --logits-processors registration wins: the entry-point instance is inert ...
    for explicit in ("mgd.vllm.v1:MgdV1LogitsProcessor", EXPLICIT_PROCESSOR):
        v1b = MgdLogitsProcessor(fake_config(tiny_model, [explicit]), torch.device("cpu"), False)
        assert not v1b.enabled
        v1b.close()
    # ... and the explicit class is active, for either runner.
    v1c = MgdExplicitProcessor(fake_config(tiny_model, [EXPLICIT_PROCESSOR]), torch.device("cpu"), False)
    assert isinstance(v1c, MgdV1LogitsProcessor) and v1c.enabled
    for p in (v1, v1c):
        p.close()


@pytest.mark.parametrize("registered", ["mgd.vllm.plugin:MgdLogitsProcessor", MgdLogitsProcessor])
def test_explicit_registration_of_the_entry_point_is_refused(tiny_model, registered) -> None:
    """vLLM would build the entry-point class twice with identical arguments (once from the entry
    point, once from the registration): no instance can tell which one it is, so the start fails
    naming the class to register instead (it used to leave both inert while accepting requests)."""
    for args in ((torch.device("cpu"), False), (None,)):  # V1, MRV2
        with pytest.raises(ValueError, match="MgdExplicitProcessor"):
            MgdLogitsProcessor(fake_config(tiny_model, [registered]), *args)


def test_entry_point_loads_for_both_runners() -> None:
    from vllm.v1.sample.logits_processor import _load_custom_logitsprocs
    from vllm.v1.worker.gpu.sample.logits_processor.loader import _load_v2_logitsprocs

    assert MgdLogitsProcessor in _load_custom_logitsprocs(None)
    assert MgdLogitsProcessor in _load_v2_logitsprocs(None)  # the V2 loader's type check passes


def test_rows_without_mgd_are_untouched(setup) -> None:
    s = setup
    assert not admit(s, 0, None)
    assert admit(s, 1, s.mgd)
    n = len(s.prompt)
    logits = torch.randn(2, s.vocab)
    before = logits.clone()
    s.proc.apply(logits, ctx_for([(0, 0, s.prompt[-1], n - 1), (1, 0, s.prompt[-1], n - 1)]))
    assert torch.equal(logits[0], before[0])
    ok = allowed(logits[1])
    assert {AREA, RADIUS, CIR} <= ok and NEWLINE not in ok and CUM not in ok


def test_draft_rows_use_tentative_state_and_commit_only_accepted(setup) -> None:
    s = setup
    assert admit(s, 2, s.mgd)
    n = len(s.prompt)
    # Step 1: the last prompt token plus two draft tokens "cir", "cum".
    logits = torch.randn(3, s.vocab)
    s.proc.apply(logits, ctx_for([(2, 0, s.prompt[-1], n - 1), (2, 1, CIR, n), (2, 2, CUM, n + 1)]))
    row0, row1, row2 = (allowed(logits[i]) for i in range(3))
    assert {AREA, RADIUS, CIR} <= row0
    assert CUM in row1 and AREA not in row1 and RADIUS not in row1  # after "cir"
    assert FERENCE in row2 and CUM not in row2 and AREA not in row2  # after "circum"
    assert s.proc._slots[2].committed == []  # drafts never reach the committed state
    # Step 2: "cir" was accepted, "cum" rejected and re-sampled as "cum" again.
    s.all_ids[2, n] = CIR
    logits = torch.randn(1, s.vocab)
    s.proc.apply(logits, ctx_for([(2, 0, CUM, n + 1)]))
    assert s.proc._slots[2].committed == [CIR, CUM]
    ok = allowed(logits[0])
    assert FERENCE in ok and CIR not in ok


def test_rejected_drafts_roll_back(setup) -> None:
    s = setup
    assert admit(s, 3, s.mgd)
    n = len(s.prompt)
    logits = torch.randn(3, s.vocab)
    s.proc.apply(logits, ctx_for([(3, 0, s.prompt[-1], n - 1), (3, 1, CIR, n), (3, 2, CUM, n + 1)]))
    # Both drafts rejected; the recovery token sampled was "area".
    logits = torch.randn(1, s.vocab)
    s.proc.apply(logits, ctx_for([(3, 0, AREA, n)]))
    assert s.proc._slots[3].committed == [AREA]
    ok = allowed(logits[0])
    assert CALL in ok and NEWLINE in ok and FERENCE not in ok and CUM not in ok
    # A recycled slot starts over: add_request resets it.
    assert not s.proc.add_request(3, SamplingParams())
    assert 3 not in s.proc._slots


def test_bad_settings_are_rejected(tiny_model, demo_project, allowed_workspaces) -> None:
    with pytest.raises(ValueError, match="unknown mgd setting"):
        MgdV2LogitsProcessor.validate_params(SamplingParams(extra_args={"mgd": {"workspace": "x", "bogus": 1}}))
    with pytest.raises(ValueError, match="outside the allowed workspaces"):
        MgdLogitsProcessor.validate_params(SamplingParams(extra_args={"mgd": {"workspace": "/tmp", "file": "a.py"}}))
    MgdLogitsProcessor.validate_params(SamplingParams(extra_args={"mgd": {"workspace": str(demo_project),
                                                                          "file": "report.py"}}))


def test_v1_with_speculative_decoding_is_refused() -> None:
    from mgd.vllm.common import engine_problem
    from mgd.vllm.compat import EngineShape

    ngram = engine_problem(EngineShape(False, "ngram", False), True) or ""
    assert "speculative decoding" in ngram and "'ngram'" in ngram and "Model Runner V2" in ngram
    suffix = engine_problem(EngineShape(False, "suffix", False), True, "0.33.0") or ""
    assert "does not run speculative method 'suffix'" in suffix and "turn speculative decoding off" in suffix
    assert engine_problem(EngineShape(True, "ngram", True), False) is None  # MRV2 runs processors on drafts
    assert engine_problem(EngineShape(False, None, False), False) is None
