"""One import namespace: a built wheel installs `stagewise` and nothing else at the top level, so it lives
beside Hugging Face's `evaluate` (a dev dependency for this test) without either shadowing the other."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from tests.conftest import REPO

PARTS = ("stagewise", "cluster", "train", "serve", "evaluate", "analysis")


def _wheel(tmp_path):
    src = tmp_path / "src"  # a copy: building in the checkout would leave build/ and *.egg-info there
    for name in PARTS:
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    out = tmp_path / "wheel"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(src)], check=True, timeout=300)
    return next(out.glob("stagewise-*.whl"))


def test_the_wheel_installs_one_namespace_beside_huggingface_evaluate(tmp_path):
    wheel = _wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        top = {n.split("/")[0] for n in names}
        z.extractall(tmp_path / "site")  # what `pip install --target` would lay out
    assert {t for t in top if not t.endswith(".dist-info")} == {"stagewise"}
    assert "stagewise/evaluate/benchmarks/embedded/xstest.csv" in names  # package data travels along
    # every package of the source tree made it in (pyproject lists them one by one)
    packages = {str(p.parent.relative_to(REPO)) for part in PARTS for p in (REPO / part).rglob("__init__.py")}
    wheel_path = {f"stagewise/{p}" if p.split("/")[0] != "stagewise" else p for p in packages}
    assert {p for p in wheel_path if f"{p}/__init__.py" not in names} == set()

    probe = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import evaluate, stagewise, stagewise.evaluate, stagewise.analysis, stagewise.train.config\n"
        "assert stagewise.__file__.startswith(sys.argv[1]), stagewise.__file__\n"
        "assert len(stagewise.__path__) == 1, stagewise.__path__  # installed: no source-checkout mapping\n"
        "assert hasattr(evaluate, 'load') and 'site-packages' in evaluate.__file__, evaluate.__file__\n"
        "assert stagewise.evaluate.run_evaluation.__module__ == 'stagewise.evaluate.pipeline'\n"
        "import typer.main, stagewise.cli\n"
        "commands = set(typer.main.get_command(stagewise.cli.app).commands)\n"
        "assert {'train', 'serve', 'eval', 'analyze', 'plan', 'run', 'data'} <= commands, commands\n"
        "print('ok', evaluate.__file__)\n"
    )
    # -I: no cwd or PYTHONPATH on sys.path, as an installed environment would import
    r = subprocess.run([sys.executable, "-I", "-c", probe, str(tmp_path / "site")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("ok"), r.stderr[-3000:]


def test_the_development_install_also_leaves_huggingface_evaluate_alone(tmp_path):
    probe = ("import evaluate, stagewise.evaluate\n"
             "assert hasattr(evaluate, 'load'), evaluate.__file__\n"
             "assert stagewise.evaluate.__file__.endswith('evaluate/__init__.py')\n")
    r = subprocess.run([sys.executable, "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
