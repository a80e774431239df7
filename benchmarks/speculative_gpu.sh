#!/usr/bin/env bash
# benchmarks/speculative.py on a CUDA machine (HF transformers on the GPU; vLLM is not
# carried there). Installs nothing from the network: it uses the machine's PyTorch +
# transformers, and mgd's pure-Python runtime (pygls, lsprotocol, tree-sitter, jedi's
# language server) from a folder of wheels when one is given (a GPU box has none of them).
#
# Usage: benchmarks/speculative_gpu.sh MODEL_DIR [WHEELS_DIR|-] [extra benchmark args...]
#   MODEL_DIR:  the model (e.g. a copy of tinycode-27m carried with the checkout)
#   WHEELS_DIR: wheels for the GPU machine's Python, made beforehand on a networked machine:
#       python -m pip download -d WHEELS --only-binary=:all: --python-version 3.12 \
#           --platform manylinux2014_x86_64 'pygls>=2,<3' 'lsprotocol>=2025' \
#           'tree-sitter>=0.25,<0.27' tree-sitter-python jedi-language-server
#     ("-": none; the benchmark then needs them installed already).
# Writes benchmarks/results/speculative_gpu.json: tau, the GPU's measured tree-cost curve
# (forward_ms_by_tree_tokens), and per engine the speedup measured on the GPU (engines
# "@device" are sized per step from the GPU's own measured cost curve).
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 MODEL_DIR [WHEELS_DIR|-] [benchmark args...]" >&2
  exit 2
fi
MODEL="$1"; shift
WHEELS="-"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then WHEELS="$1"; shift; fi
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c "import torch, transformers; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0))"
if [ "$WHEELS" != "-" ]; then
  "$PY" -m pip install -q --no-index --find-links "$WHEELS" 'pygls>=2,<3' 'lsprotocol>=2025' \
    'tree-sitter>=0.25,<0.27' tree-sitter-python jedi-language-server
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/speculative.py --model "$MODEL" --device cuda --tree-sizes 1,4,16,64,128,256 \
  --h200-budget 256 --out speculative_gpu "$@"
