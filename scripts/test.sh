#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests included (CI runs exactly this):
#   bash scripts/test.sh            # extra args go to pytest, e.g. -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export STAGEWISE_CACHE="${STAGEWISE_CACHE:-$PWD/.cache}"
exec .venv/bin/python -m pytest "$@"
