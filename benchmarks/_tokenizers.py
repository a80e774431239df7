"""Tokenizers for the benchmarks that do not ship with the repository.

:func:`large_tokenizer` trains a byte-level BPE tokenizer with at least 100k ids on
real Python code found on this machine (the standard library, then the
site-packages of the running interpreter) and caches it on disk, so only the first
call pays for training (a few minutes on two cores; the time is printed).
"""

from __future__ import annotations

import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["SPECIAL_TOKENS", "code_corpus_files", "large_tokenizer"]

SPECIAL_TOKENS = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<pad>"]

# Enough distinct code that BPE really finds >= 100k merges with min_frequency=2.
_DEFAULT_BUDGET = 80_000_000


def code_corpus_files(budget_bytes: int = _DEFAULT_BUDGET) -> list[Path]:
    """Python source files of the stdlib, then of site-packages, up to ``budget_bytes``.

    Sorted for determinism (the same machine gives the same tokenizer).
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    roots = [stdlib] + [Path(p) for p in sys.path if p.endswith("site-packages")]
    files: list[Path] = []
    seen: set[Path] = set()
    total = 0
    for root in roots:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*.py")):
            if "site-packages" in path.parts and root == stdlib:
                continue  # the stdlib's own site-packages is not "the stdlib"
            try:
                real = path.resolve()
                size = real.stat().st_size
            except OSError:
                continue
            if real in seen or size == 0 or size > 2_000_000:
                continue
            seen.add(real)
            files.append(real)
            total += size
            if total >= budget_bytes:
                return files
    return files


def _texts(files: list[Path]) -> Iterator[str]:
    for path in files:
        try:
            yield path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue


def _train(vocab_size: int, out: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    budget = _DEFAULT_BUDGET
    while True:
        files = code_corpus_files(budget)
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=SPECIAL_TOKENS,
            show_progress=False,
        )
        start = time.perf_counter()
        tok.train_from_iterator(_texts(files), trainer=trainer)
        took = time.perf_counter() - start
        size = tok.get_vocab_size(with_added_tokens=True)
        nbytes = sum(p.stat().st_size for p in files)
        print(
            f"trained byte-level BPE: {size} ids from {len(files)} files "
            f"({nbytes / 1e6:.1f} MB) in {took:.1f} s",
            file=sys.stderr,
        )
        if size >= vocab_size or budget >= 8 * _DEFAULT_BUDGET:
            break
        budget *= 2  # not enough distinct text yet
    if size < vocab_size:
        raise RuntimeError(f"only {size} tokens could be learned (wanted {vocab_size})")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tok.save(str(tmp))
    tmp.replace(out)


def large_tokenizer(cache_dir: Path, vocab_size: int = 100_000) -> Any:
    """A byte-level BPE ``PreTrainedTokenizerFast`` with >= ``vocab_size`` ids.

    Trained once on local Python code and cached as ``cache_dir/bytelevel-bpe-<n>.json``
    (use ``benchmarks/.cache``, which git ignores).
    """
    from transformers import PreTrainedTokenizerFast

    path = Path(cache_dir) / f"bytelevel-bpe-{vocab_size}.json"
    if not path.exists():
        _train(vocab_size, path)
    return PreTrainedTokenizerFast(
        tokenizer_file=str(path), eos_token="<|endoftext|>", pad_token="<pad>"
    )


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    t0 = time.perf_counter()
    tk = large_tokenizer(here / ".cache")
    print(f"{len(tk)} ids, ready in {time.perf_counter() - t0:.1f} s")
