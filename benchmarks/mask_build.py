"""Cost of building identifier masks with :class:`monitors.vocab.VocabIndex`.

Run from the repository root::

    .venv/bin/python benchmarks/mask_build.py [--model PATH] \
        [--out benchmarks/results/mask_build.json]

Two tokenizers: the shared tiny model's (16k ids; ``--model``, default ``$MGD_MODEL``
or ``../shared/models/tinycode-27m`` next to the repository) and a byte-level BPE with
100k ids trained once on local Python code (cached under ``benchmarks/.cache``).

Candidate sets are the public and dunder member names of real Python objects
(``dir()`` of str, list, dict, pathlib.Path, os, re, json, typing, ...), the kind of
set a language server returns after ``obj.``; typed prefixes are 0-3 leading bytes
of real members. Measured per constraint:

* cold: ``mask(c, width=V)`` (no memo): the full computation (live candidates,
  dictionary look-ups, unique ids) plus the bool row, no cache involved;
* warm: the same with the LRU already holding the constraint;
* apply: bool row -> ``torch.from_numpy`` -> ``logits.masked_fill_(~mask, -inf)`` on a
  CPU row (padded to a multiple of 128), and, for comparison, a ``-inf`` row with the
  allowed logits copied in (``out[ids] = row[ids]``).
"""

from __future__ import annotations

import argparse
import collections
import datetime
import io
import itertools
import json
import os
import pathlib
import platform
import random
import re
import statistics
import sys
import time
import typing
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks._tokenizers import large_tokenizer  # noqa: E402
from monitors.base import IdentifierConstraint  # noqa: E402
from monitors.vocab import IdsMemo, VocabIndex  # noqa: E402


def member_sets() -> dict[str, frozenset[bytes]]:
    """Member names of real objects, as a completion list after ``x.`` would give them."""
    import argparse as _argparse
    import logging
    import subprocess
    import threading

    objects: dict[str, Any] = {
        "str": str,
        "list": list,
        "dict": dict,
        "set": set,
        "bytes": bytes,
        "int": int,
        "pathlib.Path": pathlib.Path,
        "collections.OrderedDict": collections.OrderedDict,
        "collections.Counter": collections.Counter,
        "datetime.datetime": datetime.datetime,
        "io.StringIO": io.StringIO,
        "threading.Thread": threading.Thread,
        "logging.Logger": logging.Logger,
        "argparse.ArgumentParser": _argparse.ArgumentParser,
        "np.ndarray": np.ndarray,
        "os": os,
        "os.path": os.path,
        "re": re,
        "json": json,
        "typing": typing,
        "itertools": itertools,
        "collections": collections,
        "subprocess": subprocess,
        "logging": logging,
        "numpy": np,
    }
    out: dict[str, frozenset[bytes]] = {}
    for name, obj in objects.items():
        names = {n for n in dir(obj) if n.isidentifier()}
        out[name] = frozenset(n.encode() for n in names)
    return out


def constraints(
    sets: dict[str, frozenset[bytes]], rng: random.Random, per_len: int = 8
) -> list[tuple[str, int, IdentifierConstraint]]:
    """(set name, typed length, constraint): typed = 0..3 leading bytes of real members."""
    out: list[tuple[str, int, IdentifierConstraint]] = []
    for name, cands in sets.items():
        out.append((name, 0, IdentifierConstraint(cands, b"")))
        members = sorted(cands)
        for k in (1, 2, 3):
            pool = [m for m in members if len(m) >= k]
            for m in rng.sample(pool, min(per_len, len(pool))):
                out.append((name, k, IdentifierConstraint(cands, m[:k])))
    return out


def complete_constraints(
    sets: dict[str, frozenset[bytes]], rng: random.Random, per_set: int = 4
) -> list[IdentifierConstraint]:
    """typed is a whole member: break-starting tokens + EOS (+ longer members) allowed."""
    out = []
    for cands in sets.values():
        for m in rng.sample(sorted(cands), min(per_set, len(cands))):
            out.append(IdentifierConstraint(cands, m))
    return out


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def summary(xs_ns: list[int]) -> dict[str, float]:
    us = [x / 1000 for x in xs_ns]
    return {
        "n": len(us),
        "p50_us": round(pct(us, 50), 2),
        "p99_us": round(pct(us, 99), 2),
        "mean_us": round(statistics.fmean(us), 2),
        "max_us": round(max(us), 2),
    }


def bench_tokenizer(label: str, tok: Any, rounds: int, seed: int) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    builds = []
    index = None
    for _ in range(3):
        t0 = time.perf_counter()
        index = VocabIndex.from_tokenizer(tok)
        builds.append(time.perf_counter() - t0)
    assert index is not None
    width = index.size
    rng = random.Random(seed)
    sets = member_sets()
    cs = constraints(sets, rng)
    comp = complete_constraints(sets, rng)
    sizes = [len(c.candidates) for _, _, c in cs]

    memo = IdsMemo()

    def measure(items: list[IdentifierConstraint], cache: bool) -> list[int]:
        out: list[int] = []
        pc = time.perf_counter_ns
        for _ in range(rounds):
            order = items[:]
            rng.shuffle(order)
            for c in order:
                t0 = pc()
                index.mask(c, width, memo=memo if cache else None)
                out.append(pc() - t0)
        return out

    plain = [c for _, _, c in cs]
    # Warm-up of the interpreter paths (not of the memo: cache=False).
    measure(plain[:50], cache=False)
    cold = measure(plain, cache=False)
    cold_by_k = {k: measure([c for _, kk, c in cs if kk == k], cache=False) for k in range(4)}
    big = [c for _, _, c in cs if len(c.candidates) >= 200]
    cold_big = measure(big, cache=False) if big else []
    cold_complete = measure(comp, cache=False)
    memo.clear()
    for c in plain + comp:
        index.mask(c, width, memo=memo)
    warm = measure(plain, cache=True)
    warm_complete = measure(comp, cache=True)

    # allowed_ids alone (no row), cold
    pc = time.perf_counter_ns
    ids_only = []
    for _ in range(rounds):
        for c in plain:
            t0 = pc()
            index.allowed_ids(c)
            ids_only.append(pc() - t0)
    bitmask = []
    for _ in range(rounds):
        for c in plain:
            t0 = pc()
            index.bitmask(c, width)
            bitmask.append(pc() - t0)

    # Application on a (padded) logits row.
    padded = ((width + 127) // 128) * 128
    logits = torch.randn(padded)
    masks = [index.mask(c, padded) for c in plain]
    apply = []
    for _ in range(rounds):
        for m in masks:
            row = logits.clone()
            t0 = pc()
            t = torch.from_numpy(m)
            row.masked_fill_(~t, float("-inf"))
            apply.append(pc() - t0)

    # Alternative for CPU rows: a -inf row and a copy of the allowed logits only.
    sparse = []
    allowed_t = [torch.from_numpy(index.allowed_ids(c).astype(np.int64)) for c in plain]
    for _ in range(rounds):
        for ids_t in allowed_t:
            row = logits.clone()
            t0 = pc()
            out = torch.full_like(row, float("-inf"))
            out[ids_t] = row[ids_t]
            sparse.append(pc() - t0)

    allowed = [len(index.allowed_ids(c)) for c in plain]
    return {
        "tokenizer": label,
        "vocab_size": index.size,
        "kind": index.kind,
        "index_build_s": [round(b, 3) for b in builds],
        "constraints": len(plain),
        "candidate_set_sizes": {
            "min": min(sizes),
            "median": statistics.median(sizes),
            "max": max(sizes),
        },
        "allowed_ids_per_constraint": {
            "median": statistics.median(allowed),
            "max": max(allowed),
        },
        "cold_mask": summary(cold),
        "cold_mask_by_typed_len": {str(k): summary(v) for k, v in cold_by_k.items()},
        "cold_mask_sets_ge_200": summary(cold_big) if cold_big else None,
        "cold_mask_typed_complete": summary(cold_complete),
        "cold_allowed_ids_only": summary(ids_only),
        "warm_mask": summary(warm),
        "warm_mask_typed_complete": summary(warm_complete),
        "warm_bitmask": summary(bitmask),
        "apply_from_numpy_masked_fill": summary(apply),
        "apply_sparse_copy": summary(sparse),
        "apply_width": padded,
    }


ROWS = [
    ("cold mask, typed 0-3 (all)", "cold_mask"),
    ("cold mask, typed 0", ("cold_mask_by_typed_len", "0")),
    ("cold mask, typed 1", ("cold_mask_by_typed_len", "1")),
    ("cold mask, typed 2", ("cold_mask_by_typed_len", "2")),
    ("cold mask, typed 3", ("cold_mask_by_typed_len", "3")),
    ("cold mask, sets >= 200 names", "cold_mask_sets_ge_200"),
    ("cold mask, typed = whole member", "cold_mask_typed_complete"),
    ("cold allowed_ids only", "cold_allowed_ids_only"),
    ("warm mask (LRU hit)", "warm_mask"),
    ("warm mask, typed = whole member", "warm_mask_typed_complete"),
    ("warm bitmask", "warm_bitmask"),
    ("apply: from_numpy + masked_fill_ (CPU)", "apply_from_numpy_masked_fill"),
    ("apply alt.: -inf row + copy allowed (CPU)", "apply_sparse_copy"),
]


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for r in results:
        lines.append(
            f"\n### {r['tokenizer']}: {r['vocab_size']} ids ({r['kind']}), "
            f"index build {min(r['index_build_s']):.3f} s (best of 3), "
            f"{r['constraints']} constraints, candidate sets "
            f"{r['candidate_set_sizes']['min']}-{r['candidate_set_sizes']['max']} names\n"
        )
        lines.append("| measurement | n | p50 µs | p99 µs | mean µs | max µs |")
        lines.append("|---|---|---|---|---|---|")
        for label, key in ROWS:
            s = r[key[0]][key[1]] if isinstance(key, tuple) else r[key]
            if s is None:
                continue
            lines.append(
                f"| {label} | {s['n']} | {s['p50_us']} | {s['p99_us']} | "
                f"{s['mean_us']} | {s['max_us']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    default_model = os.environ.get("MGD_MODEL") or str(
        (ROOT / ".." / "shared" / "models" / "tinycode-27m").resolve()
    )
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=default_model, help="model/tokenizer directory")
    ap.add_argument("--out", default=str(HERE / "results" / "mask_build.json"))
    ap.add_argument("--large-vocab", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-large", action="store_true", help="only the model's tokenizer")
    args = ap.parse_args(argv)

    from transformers import AutoTokenizer

    results = []
    tok = AutoTokenizer.from_pretrained(args.model)
    results.append(bench_tokenizer(Path(args.model).name, tok, args.rounds, args.seed))
    if not args.skip_large:
        t0 = time.perf_counter()
        big = large_tokenizer(HERE / ".cache", args.large_vocab)
        load_s = time.perf_counter() - t0
        r = bench_tokenizer(f"bytelevel-bpe-{args.large_vocab}", big, args.rounds, args.seed)
        r["tokenizer_load_or_train_s"] = round(load_s, 2)
        results.append(r)

    md = table(results)
    print(md)
    import torch

    doc = {
        "command": [Path(sys.executable).name, *sys.argv],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "results": results,
        "markdown": md,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
