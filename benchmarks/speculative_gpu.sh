#!/usr/bin/env bash
# Run benchmarks/speculative.py on a CUDA machine. Installs nothing: it uses the
# machine's PyTorch + transformers (and, for the completion workload, this
# checkout's Python deps, jedi-language-server included, if present).
#
# Usage: benchmarks/speculative_gpu.sh MODEL_DIR [extra benchmark args...]
#   MODEL_DIR: the tiny model (e.g. a copy of tinycode-27m carried with the checkout).
# Writes benchmarks/results/speculative_gpu.json.
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 MODEL_DIR [benchmark args...]" >&2
  exit 2
fi
MODEL="$1"; shift
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c "import torch, transformers; assert torch.cuda.is_available(), 'no CUDA device'; print('torch', torch.__version__, 'transformers', transformers.__version__, torch.cuda.get_device_name(0))"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" benchmarks/speculative.py --model "$MODEL" --device cuda --tree-sizes 1,4,16,64,128,256 \
  --sweep 8,32,64 --out speculative_gpu "$@"
