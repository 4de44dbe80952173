#!/usr/bin/env bash
# The whole test suite, slow end-to-end tests included (CI runs exactly this):
#   bash scripts/test.sh            # extra args go to pytest, e.g. -m "not slow" -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The reward-hacking sandbox needs bubblewrap; install it when we can (root + apt), else its tests say why they skip.
if ! command -v bwrap >/dev/null 2>&1 && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq bubblewrap) >/dev/null 2>&1 || echo "note: could not install bubblewrap"
fi
export STAGEWISE_CACHE="${STAGEWISE_CACHE:-$PWD/.cache}"
exec .venv/bin/python -m pytest "$@"
