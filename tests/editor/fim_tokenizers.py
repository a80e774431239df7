"""Small stand-in tokenizers, one per model family, for the FIM template tests.

**These are stand-ins, not the families' real tokenizers** (there is no model hub
here): a byte-level BPE trained on a few lines of code, plus the special tokens
each family publishes in its tokenizer files (StarCoder, SantaCoder,
Qwen2.5-Coder, DeepSeek-Coder, CodeLlama's SentencePiece pieces, Codestral's
control tokens), with the family's BOS/EOS. Detection and prompt layout only
depend on those tokens, which is what the tests exercise.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

#: family -> (special tokens as published, bos, eos)
FAMILIES: dict[str, tuple[list[str], str | None, str]] = {
    "starcoder": (["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<filename>",
                   "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>",
                   "<file_sep>"], None, "<|endoftext|>"),
    "santacoder": (["<|endoftext|>", "<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>"], None,
                   "<|endoftext|>"),
    "qwen": (["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
              "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"], None, "<|endoftext|>"),
    "deepseek": (["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>",
                  "<｜fim▁end｜>", "<|EOT|>"], "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"),
    "codellama": (["<unk>", "<s>", "</s>", "▁<PRE>", "▁<MID>", "▁<SUF>", "▁<EOT>"], "<s>", "</s>"),
    "codestral": (["<unk>", "<s>", "</s>", "[INST]", "[/INST]", "[TOOL_CALLS]", "[AVAILABLE_TOOLS]",
                   "[/AVAILABLE_TOOLS]", "[TOOL_RESULTS]", "[/TOOL_RESULTS]", "[SUFFIX]", "[PREFIX]", "[MIDDLE]"],
                  "<s>", "</s>"),
    "plain": (["<|endoftext|>"], None, "<|endoftext|>"),  # a code model without FIM tokens
}

_CORPUS = [
    "def area(self):\n    return self.width * self.height\n",
    "class Circle:\n    def __init__(self, radius):\n        self.radius = radius\n",
    "for item in items:\n    total += item.price\nprint(total)\n",
]


def standin_tokenizer(family: str) -> PreTrainedTokenizerFast:
    """A fast tokenizer with ``family``'s published special tokens (see the module docstring)."""
    specials, bos, eos = FAMILIES[family]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(_CORPUS, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos,
                                   additional_special_tokens=[t for t in specials if t not in (bos, eos)])


def save_standin(family: str, directory: Path) -> Path:
    """Write the stand-in to ``directory`` (loadable with ``AutoTokenizer.from_pretrained``)."""
    standin_tokenizer(family).save_pretrained(directory)
    return directory
