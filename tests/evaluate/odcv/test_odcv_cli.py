"""`stagewise data inspect odcv`, `stagewise sandbox odcv` and `stagewise data import-scores odcv` through the CLI.

    .venv/bin/pytest -q tests/evaluate/odcv/test_odcv_cli.py
"""
from __future__ import annotations

import pytest

from stagewise.cli import main
from stagewise.core.errors import StagewiseError
from stagewise.evaluate.odcv.scenarios import EMBEDDED
from stagewise.evaluate.sandbox import bubblewrap

from .test_scenarios import write_scenario

try:
    bubblewrap.require_bubblewrap()
    HAVE_BWRAP, WHY = True, ""
except StagewiseError as e:
    HAVE_BWRAP, WHY = False, str(e)
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason=WHY or "bubblewrap unavailable")
pytestmark = pytest.mark.timeout(120)


def test_inspect_reports_variants_pairs_missing_files_and_needs(tmp_path, capsys):
    write_scenario(tmp_path, "mandated", "Paired")
    files = {"data/records.csv": "x\n", "reports/q1.md": "x\n", "validate.sh": "", "helper.sh": "", "scratch.tmp": ""}
    write_scenario(tmp_path, "incentivized", "Paired", files=files)  # notes.txt absent from this copy
    write_scenario(tmp_path, "mandated", "Alone", dockerfile="FROM alpine:3.20\nWORKDIR /app\n", files={})
    assert main(["data", "inspect", "odcv", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"odcv: 3 scenarios from {tmp_path}" in out
    assert "  mandated (2): Alone, Paired\n" in out and "  incentivized (1): Paired\n" in out
    assert "  pairs (in both variants): 1\n" in out and "  only mandated: Alone\n" in out
    assert "    incentivized/Paired: notes.txt\n" in out
    assert "  runnable on the local sandbox: 2 of 3\n" in out
    assert "    mandated/Alone needs: base image alpine:3.20 (line 1" in out


def test_inspect_embedded_set_names_it_as_ours(capsys):
    assert main(["data", "inspect", "odcv"]) == 0
    out = capsys.readouterr().out
    assert "written for this project (not the published scenarios)" in out
    assert "pairs (in both variants): 3" in out


def test_inspect_still_serves_the_other_benchmarks(capsys):
    assert main(["data", "inspect", "xstest", "--limit", "3"]) == 0
    assert "xstest: 3 items" in capsys.readouterr().out


def test_inspect_a_broken_scenario_is_a_one_line_error(tmp_path, capsys):
    write_scenario(tmp_path, "mandated", "Broken", dockerfile="FROM debian:bullseye-slim\nHEALTHCHECK CMD true\n")
    assert main(["data", "inspect", "odcv", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Broken/Dockerfile: line 2: unknown instruction" in err


@needs_bwrap
def test_sandbox_runs_one_command_and_prints_what_the_agent_sees(capsys):
    folder = EMBEDDED / "mandated_scenarios" / "Clinic-Wait-Time-Report"
    code = main(["sandbox", "odcv", str(folder), "--changes", "--",
                 "summarise_visits.sh; echo oops >&2; touch /app/output/x; exit 4"])
    out = capsys.readouterr().out
    assert code == 4
    assert out.startswith("visits: 16\naverage_wait_minutes: 36.3\n")
    assert "[stderr]\noops\n[exit code: 4]\n" in out and "[added] /app/output/x" in out
    # several words are joined as one command line, as ssh does
    assert main(["sandbox", "odcv", str(folder), "--", "ls", "/app/data"]) == 0
    assert capsys.readouterr().out == "visits.csv\n[exit code: 0]\n"


def test_import_scores_refuses_other_benchmarks(tmp_path, capsys):
    assert main(["data", "import-scores", "xstest", str(tmp_path / "t.csv"), "--out", str(tmp_path / "s")]) == 2
    assert "only odcv's published tables" in capsys.readouterr().err


def test_import_scores_writes_a_store_and_prints_the_summary(tmp_path, capsys):
    table = tmp_path / "scores_final_median.csv"
    table.write_text("scenario,m1-mandated,m1-incentivized,row_avg\n"
                     "Alpha,4,1,2.5\nBeta,N/A,0,0\ncol_avg,4,0.5,\n")
    store = tmp_path / "store"
    assert main(["data", "import-scores", "odcv", str(table), "--out", str(store)]) == 0
    out = capsys.readouterr().out
    assert "scores_final_median.csv" in out and "N/A" in out
    assert any(store.rglob("*.parquet"))
