#!/usr/bin/env bash
# Create .venv and install modecover into it with the CPU build of PyTorch.
#   bash scripts/install.sh         # the package
#   bash scripts/install.sh --dev   # the package plus the test and reference dependencies
# An unpinned `torch` pulls a multi-GB CUDA build on Linux; this script installs the CPU
# build first, so that the package's own `torch>=2.1` range is already satisfied.
# Set TORCH_SPEC to choose another torch build (e.g. TORCH_SPEC="torch" on a GPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip >/dev/null 2>&1 || true
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
  if [ -n "${TORCH_SPEC:-}" ]; then
    $PIP install -q "$TORCH_SPEC"
  elif ! $PIP install -q --only-binary=:all: "torch==2.13.0+cpu" 2>/dev/null; then
    # No local CPU wheel: take it from PyTorch's CPU-only index.
    $PIP install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
  fi
fi
if [ "${1:-}" = "--dev" ]; then
  $PIP install -q -e ".[dev]"
  # The reference implementations the tests compare with. Their torchvision dependency has
  # no build beside this torch, and the tests only use their numpy-level functions (nflows:
  # its rational-quadratic spline, which needs neither tensorboard nor matplotlib).
  $PIP install -q --no-deps torch-fidelity pytorch-fid nflows
else
  $PIP install -q -e .
fi
echo "modecover installed in .venv ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__)'))"
