#!/usr/bin/env bash
# The embedded demo study, end to end, on this machine:
#   bash scripts/demo.sh            # extra args are key=value overrides, e.g. output_dir=/tmp/demo
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export STAGEWISE_CACHE="${STAGEWISE_CACHE:-$PWD/.cache}"
exec .venv/bin/stagewise run configs/demo.yaml "$@"
