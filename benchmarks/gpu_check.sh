#!/usr/bin/env bash
# The one-shot GPU check: GPU tests + GPU benchmark, one report, in under 8 minutes.
#   benchmarks/gpu_check.sh [--out DIR] [--budget SECONDS] [--no-tests] [--no-bench]
# Runs `python -m matfunc.bench --gpu` from the repository root (PYTHON overrides the interpreter). On a
# machine without internet, wheels in .whl/ (array-api-compat, array-api-strict: docs/guides/gpu.md) are
# installed into a temporary folder first when those packages are missing. Exit status: 0 all passed,
# 1 a GPU test failed (the report is written all the same), 2 no CUDA device.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c "import array_api_compat" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    site="$(mktemp -d)"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" .whl/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec "$PYTHON" -m matfunc.bench --gpu "$@"
