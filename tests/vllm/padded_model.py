"""The tiny model with one zero attention head added, so tensor parallelism can split it.

tinycode-27m has 7 attention heads, which two ranks cannot share. An eighth head
whose query/key/value rows and output-projection columns are all zero adds
nothing to any output (its values are zero, and its output is projected away),
so the padded model computes the same function as the original and splits across
2 (or 4, 8) tensor-parallel ranks.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

__all__ = ["padded_model"]


def padded_model(src: Path, dest: Path, heads: int = 8) -> Path:
    """Write the padded copy of ``src`` to ``dest`` (once) and return ``dest``."""
    if (dest / "config.json").exists():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    config = json.loads((src / "config.json").read_text())
    old, head_dim = config["num_attention_heads"], config["head_dim"]
    if config["num_key_value_heads"] != old:
        raise ValueError("padding assumes multi-head attention (as many key/value heads as query heads)")
    extra = (heads - old) * head_dim
    state: dict[str, torch.Tensor] = {}
    for shard in sorted(src.glob("*.safetensors")):
        state.update(load_file(str(shard)))
    for name, w in list(state.items()):
        if name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight")):
            state[name] = torch.cat([w, w.new_zeros(extra, w.shape[1])], dim=0)
        elif name.endswith("o_proj.weight"):
            state[name] = torch.cat([w, w.new_zeros(w.shape[0], extra)], dim=1)
    if config.get("tie_word_embeddings"):
        state.pop("lm_head.weight", None)
    save_file({k: v.contiguous() for k, v in state.items()}, str(dest / "model.safetensors"))
    config.update(num_attention_heads=heads, num_key_value_heads=heads)
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    for name in ("tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        if (src / name).exists():
            shutil.copy(src / name, dest / name)
    return dest
