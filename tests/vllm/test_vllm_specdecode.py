"""V1 runner + speculative decoding: vLLM drops the entry-point processor, so mgd refuses.

A plain ``LLM`` (no ``logits_processors`` argument: the entry point is what
``vllm serve`` would load) with n-gram speculative decoding on CPU. Requests
without mgd settings run; a request with them is refused with the reason
instead of running unconstrained.
"""

from __future__ import annotations

import pytest

#: The engine settings of tests/vllm/conftest.py (not importable: the suite is no package).
LLM_ARGS = {"dtype": "float32", "enforce_eager": True, "max_model_len": 2048}


@pytest.fixture(scope="module")
def spec_llm(tiny_model, allowed_workspaces):
    from vllm import LLM

    llm = LLM(str(tiny_model), **LLM_ARGS, speculative_config={
        "method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_max": 3, "prompt_lookup_min": 2})
    yield llm
    del llm


def test_requests_with_mgd_settings_are_refused_under_v1_spec_decode(spec_llm, allowed_workspaces) -> None:
    from vllm import SamplingParams
    from vllm.exceptions import VLLMValidationError  # an HTTP 400 in the server

    plain = spec_llm.generate(["def area(r):\n    return r"], SamplingParams(max_tokens=3, temperature=0))
    assert plain[0].outputs[0].token_ids, "a request without mgd settings must still run"
    settings = {"mgd": {"workspace": allowed_workspaces[1], "file": "report.py"}}
    with pytest.raises(VLLMValidationError, match="speculative decoding") as err:
        spec_llm.generate(["def area(r):\n    return r."],
                          SamplingParams(max_tokens=3, temperature=0, extra_args=settings))
    assert "V2 model runner" in str(err.value)


def test_the_engine_config_is_found_only_inside_vllm() -> None:
    from monitors.vllm.common import calling_engine_config

    assert calling_engine_config() is None
