"""The tiny checkpoint loads in vLLM (the real CPU build) and generates."""
import json
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from vllm import LLM, SamplingParams

    if __name__ == "__main__":  # vLLM spawns workers that re-import this file
        llm = LLM(model=sys.argv[1], dtype="bfloat16", max_model_len=256, seed=0, enforce_eager=True)
        params = SamplingParams(temperature=0.0, max_tokens=8, ignore_eos=True)
        outs = llm.chat([[{"role": "user", "content": "Tell me about bread."}]] * 2, params)
        print("RESULT " + json.dumps([o.outputs[0].token_ids for o in outs]))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_vllm_generates_from_tiny_model(tmp_path, tiny_model_dir):
    script = tmp_path / "gen.py"
    script.write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(script), str(tiny_model_dir)], capture_output=True, text=True, timeout=580)
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert r.returncode == 0 and line, r.stderr[-3000:]
    outs = json.loads(line[0][len("RESULT "):])
    assert len(outs) == 2 and all(len(o) == 8 for o in outs)
    assert outs[0] == outs[1], "greedy decoding of the same prompt must agree"
