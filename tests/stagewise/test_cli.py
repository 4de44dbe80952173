import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run([sys.executable, "-m", "stagewise", *args], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_help_lists_subcommands():
    r = run("--help")
    assert r.returncode == 0
    assert "check" in r.stdout


def test_check_prints_resolved_config():
    r = run("check", "configs/demo.yaml", "seed=3")
    assert r.returncode == 0, r.stderr
    assert "seed: 3" in r.stdout


def test_bad_config_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\noutput_dir: o\nmodels: []\n")
    r = run("check", str(bad))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}: models")
