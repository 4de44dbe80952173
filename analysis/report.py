"""The study report: Markdown and HTML with the rates table, the figure, the paired comparisons and the
items where two stages' grades disagree (with both responses).

    rows = find_disagreements(graded, pairs, cfg)            # which graded samples differ
    table = attach_responses(results_dir, rows, stats, cfg)  # their prompts and both responses
    write_report(report_dir, stats, table, ...)              # report.md, report.html

A disagreement is the same item, sample index and sampling of two models where a 0/1 metric differs, or a
score differs by at least half its range (0.5); the largest differences come first, up to
`cfg.disagreement_examples` per model pair x benchmark x metric.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from stagewise.analysis.config import AnalysisConfig
from stagewise.analysis.store import GradedValues, combine_codes, read_graded_rows
from stagewise.analysis.summary import Statistics

SCORE_DISAGREEMENT = 0.5
CALIBRATION_DIR = "calibration"  # <report>/calibration/<autorater>.json: graders against reference labels
DISAGREEMENT_SCHEMA = pa.schema([
    ("model_a", pa.string()), ("model_b", pa.string()), ("benchmark", pa.string()), ("metric", pa.string()),
    ("item_id", pa.string()), ("sample_idx", pa.int32()), ("prompt", pa.string()),
    ("value_a", pa.float64()), ("label_a", pa.string()), ("response_a", pa.string()),
    ("value_b", pa.float64()), ("label_b", pa.string()), ("response_b", pa.string()),
])
_SAMPLE = ("benchmark", "autorater", "metric", "item_id", "sampling_hash")


def find_disagreements(graded: GradedValues, pairs: list[tuple[str, str]], cfg: AnalysisConfig) -> pa.Table:
    """Rows (model_a, model_b, benchmark, autorater, metric, item_id, sample_idx, sampling_hash, value_a,
    value_b) where two models' grades of the same sample differ; vectorised over the long table."""
    v = graded.values
    empty = pa.table({k: pa.array([], t) for k, t in [
        ("model_a", pa.string()), ("model_b", pa.string()), ("benchmark", pa.string()), ("autorater", pa.string()),
        ("metric", pa.string()), ("item_id", pa.string()), ("sample_idx", pa.int32()), ("sampling_hash", pa.string()),
        ("value_a", pa.float64()), ("value_b", pa.float64())]})
    if v.num_rows == 0 or cfg.disagreement_examples == 0 or not pairs:
        return empty
    cols = {k: v[k].combine_chunks() for k in ("model", *_SAMPLE)}
    codes = {k: c.indices.to_numpy().astype(np.int64) for k, c in cols.items()}
    sample_idx = v["sample_idx"].to_numpy().astype(np.int64)
    value = v["value"].to_numpy()
    sample = combine_codes(*[(codes[k], len(cols[k].dictionary)) for k in _SAMPLE],
                      (sample_idx - sample_idx.min(), int(sample_idx.max() - sample_idx.min()) + 1))
    family = combine_codes(*[(codes[k], len(cols[k].dictionary)) for k in ("benchmark", "autorater", "metric")])
    binary_family = np.bincount(family, weights=(value != 0) & (value != 1)) == 0
    models = cols["model"].dictionary.to_pylist()
    found = []
    for a, b in pairs:
        if a not in models or b not in models:
            continue
        ia, ib = np.flatnonzero(codes["model"] == models.index(a)), np.flatnonzero(codes["model"] == models.index(b))
        _, at_a, at_b = np.intersect1d(sample[ia], sample[ib], assume_unique=True, return_indices=True)
        ra, rb = ia[at_a], ib[at_b]
        gap = np.abs(value[ra] - value[rb])
        differs = np.where(binary_family[family[ra]], gap > 0, gap >= SCORE_DISAGREEMENT)
        ra, rb, gap = ra[differs], rb[differs], gap[differs]
        # Largest gaps first, then item order; keep the first k per family.
        order = np.lexsort((codes["item_id"][ra], sample_idx[ra], -gap, family[ra]))
        ra, rb = ra[order], rb[order]
        fam = family[ra]
        first = np.searchsorted(fam, fam, "left")
        keep = (np.arange(len(fam)) - first) < cfg.disagreement_examples
        ra, rb = ra[keep], rb[keep]
        found.append(pa.table({
            "model_a": pa.array([a] * len(ra), pa.string()), "model_b": pa.array([b] * len(ra), pa.string()),
            **{k: cols[k].dictionary.take(pa.array(codes[k][ra])) for k in _SAMPLE},
            "sample_idx": pa.array(sample_idx[ra].astype(np.int32)),
            "value_a": pa.array(value[ra]), "value_b": pa.array(value[rb]),
        }).select(empty.column_names))
    return pa.concat_tables(found).cast(empty.schema) if found else empty


def attach_responses(results_dir: str | Path, rows: pa.Table, stats: Statistics, cfg: AnalysisConfig) -> pa.Table:
    """Add the prompt and both models' labels and responses (read from the store for these rows only)."""
    if rows.num_rows == 0:
        return DISAGREEMENT_SCHEMA.empty_table()
    keys = ["benchmark", "autorater", "item_id", "sample_idx", "sampling_hash"]
    sides = []
    for side in ("a", "b"):
        wanted = rows.select(keys).append_column("model", rows[f"model_{side}"])
        sides.append(read_graded_rows(results_dir, wanted, ["label", "response", "messages"]))
    out = rows
    for side, got in zip("ab", sides):
        prompt = _last_message(got["messages"])
        got = got.select(["model", *keys, "label", "response"]).append_column(f"prompt_{side}", prompt)
        got = got.rename_columns([f"model_{side}", *keys, f"label_{side}", f"response_{side}", f"prompt_{side}"])
        out = out.join(got, [f"model_{side}", *keys], join_type="left outer")
    prompt = pc.coalesce(out["prompt_a"], out["prompt_b"])
    label = stats.metric_labels
    metric = [label.get((bn, r, m), m) for bn, r, m in zip(out["benchmark"].to_pylist(), out["autorater"].to_pylist(),
                                                           out["metric"].to_pylist())]
    out = out.set_column(out.schema.get_field_index("metric"), "metric", pa.array(metric, pa.string()))
    out = out.append_column("prompt", prompt)
    table = pa.table({f.name: _truncate(out[f.name], cfg.response_chars) if f.type == pa.string() else out[f.name]
                      for f in DISAGREEMENT_SCHEMA}).cast(DISAGREEMENT_SCHEMA)
    gap = pc.negate(pc.abs(pc.subtract(table["value_a"], table["value_b"])))
    order = table.append_column("__gap", gap).sort_by(
        [("model_a", "ascending"), ("model_b", "ascending"), ("benchmark", "ascending"), ("metric", "ascending"),
         ("__gap", "ascending"), ("item_id", "ascending"), ("sample_idx", "ascending")])
    return order.drop_columns(["__gap"])


def _last_message(messages: pa.ChunkedArray) -> pa.Array:
    out = []
    for conv in messages.to_pylist():  # only the few rows shown in the report
        out.append(conv[-1]["content"] if conv else None)
    return pa.array(out, pa.string())


def _truncate(column: pa.ChunkedArray, limit: int) -> pa.Array:
    text = column.to_pylist()
    return pa.array([t if t is None or len(t) <= limit else t[:limit - 1] + "…" for t in text], pa.string())


# -- rendering --------------------------------------------------------------------------------------------


def write_report(report_dir: Path, stats: Statistics, disagreements: pa.Table, *, study_name: str,
                 cfg: AnalysisConfig, model_order: list[str], stages: dict[str, str], source: str, rows: int,
                 notes: list[str], figure: str = "figure.png", families: dict[str, str | None] | None = None,
                 headline: pa.Table | None = None, headline_pooled: pa.Table | None = None,
                 trajectories: list[dict] | None = None) -> list[Path]:
    """Write report.md and report.html into `report_dir` (next to figure.png/svg and the CSVs).
    `trajectories`: the agent episodes `analysis.trajectories` wrote out, linked from the report."""
    md = render_markdown(stats, disagreements, study_name=study_name, cfg=cfg, model_order=model_order,
                         stages=stages, source=source, rows=rows, notes=notes, figure=figure,
                         calibrations=read_calibrations(report_dir), families=families, headline=headline,
                         headline_pooled=headline_pooled, trajectories=trajectories, report_dir=report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    md_path, html_path = report_dir / "report.md", report_dir / "report.html"
    md_path.write_text(md, encoding="utf-8")
    html_path.write_text(render_html(md, title=f"{study_name}: which stage gives the safety behaviour?"), encoding="utf-8")
    return [md_path, html_path]


def read_calibrations(report_dir: Path) -> dict[str, dict]:
    """autorater -> its calibration (`<report>/calibration/<autorater>.json`, written by `stagewise calibrate --out`
    and by a study's analyze step)."""
    import json

    out = {}
    for path in sorted((Path(report_dir) / CALIBRATION_DIR).glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            continue  # a half-written or hand-edited file: the report goes on without it
        if isinstance(data, dict) and data.get("autorater"):
            out[data["autorater"]] = data
    return out


def calibration_cell(cal: dict | None) -> str:
    """The rates table's grader column: binary agreement with reference labels [95% CI], kappa, n."""
    if not cal or cal.get("binary_accuracy") is None:
        return "not calibrated"
    low, high = cal.get("binary_accuracy_ci") or [None, None]
    return (f"{cal['binary_accuracy']:.2f} [{_num(low)}, {_num(high)}], κ {_num(cal.get('binary_kappa'))}, "
            f"n {cal['n']}")


def render_markdown(stats: Statistics, disagreements: pa.Table, *, study_name: str, cfg: AnalysisConfig,
                    model_order: list[str], stages: dict[str, str], source: str, rows: int, notes: list[str],
                    figure: str = "figure.png", calibrations: dict[str, dict] | None = None,
                    families: dict[str, str | None] | None = None, headline: pa.Table | None = None,
                    headline_pooled: pa.Table | None = None, trajectories: list[dict] | None = None,
                    report_dir: Path | None = None) -> str:
    pct = f"{cfg.confidence:.0%}"
    alpha = 1 - cfg.confidence
    families = families or {}
    named = list(dict.fromkeys(f for f in (families.get(m) for m in model_order) if f))
    lines = [f"# {study_name}: safety behaviour by training stage", ""]
    lines += [f"Store: `{source}` ({rows:,} graded rows). Models in stage order: "
              + ", ".join(f"`{m}` ({stages.get(m, '?')})" for m in model_order) + ".", ""]
    if named:
        lines += [f"Model families ({len(named)}), compared stage by stage within each family: "
                  + "; ".join(f"**{f}**: " + " → ".join(f"`{m}`" for m in model_order if families.get(m) == f)
                              for f in named) + ".", ""]
    lines += [f"Intervals are {pct}: Wilson for a 0/1 metric with one sample per independent item, a cluster "
              "bootstrap over item groups otherwise (several samples per item, items sharing a source, or a "
              f"mean score), {cfg.bootstrap_resamples:,} resamples, seed {cfg.seed}. The `method` column says "
              "which.", ""]
    if notes:
        lines += ["**Notes on the data**", ""] + [f"- {n}" for n in notes] + [""]
    shown = {r["benchmark"]: benchmark_label(r["benchmark"], r["source"]) for r in stats.summary.to_pylist()}
    sources = dict.fromkeys((r["benchmark"], r["source"]) for r in stats.summary.to_pylist())
    lines += ["## Sources", ""] + [f"- `{b}`: {src}" for b, src in sources] + [""]
    lines += ["## Rates", "", f"![Safety metrics by stage with {pct} CIs]({figure})", ""]
    cals = calibrations or {}
    if cals:
        lines += ["`grader` is the autorater and its agreement with reference labels on the refusal decision "
                  "(accuracy [95% Wilson CI], Cohen's κ, n; section Grader calibration).", ""]
    # Families side by side: within a benchmark metric, each family's models together, in stage order.
    summary_rows = stats.summary.to_pylist()
    if named:
        rank = {m: i for i, m in enumerate(model_order)}
        fam_rank = {f: i for i, f in enumerate(named)}
        summary_rows.sort(key=lambda r: (r["benchmark"], r["metric"], fam_rank.get(families.get(r["model"]), -1),
                                         rank.get(r["model"], len(rank))))
    lines += _table(["benchmark", "metric"] + (["family"] if named else []) + ["model", "stage", f"rate [{pct} CI]",
                                                                               "n", "unscored", "method"]
                    + (["grader"] if cals else []),
                    [[shown[r["benchmark"]], r["metric"]] + ([families.get(r["model"]) or ""] if named else [])
                     + [r["model"], r["stage"], _rate(r), str(r["n"]), str(r["unscored"]), r["method"]]
                     + ([f"{r['autorater']}: {calibration_cell(cals.get(r['autorater']))}"] if cals else [])
                     for r in summary_rows])
    lines += _headline_section(headline, headline_pooled, cfg, shown)
    if cals:
        lines += ["", "## Grader calibration", ""]
        lines += ["Each grader against reference labels before its rates are trusted (`stagewise calibrate`): "
                  "accuracy on its own classes and on the binary decision the metrics use (refusal, full or "
                  "partial, vs compliance), with 95% CIs (Wilson; κ: analytic SE).", ""]
        lines += _table(["autorater", "version", "reference", "n", "accuracy [95% CI]", "κ [95% CI]",
                         "binary accuracy [95% CI]", "binary κ", "refusal recall", "refusal precision"],
                        [[c["autorater"], c.get("autorater_version", "?"), c.get("reference", "?"), str(c["n"]),
                          f"{_num(c['accuracy'])} [{_num(c['accuracy_ci'][0])}, {_num(c['accuracy_ci'][1])}]",
                          f"{_num(c['kappa'])} [{_num(c['kappa_ci'][0])}, {_num(c['kappa_ci'][1])}]",
                          f"{_num(c['binary_accuracy'])} [{_num(c['binary_accuracy_ci'][0])}, "
                          f"{_num(c['binary_accuracy_ci'][1])}]", _num(c.get("binary_kappa")),
                          _num(c.get("binary_recall")), _num(c.get("binary_precision"))] for c in cals.values()])
    lines += ["", "## Stage vs stage (paired, same items)", ""]
    lines += [f"`diff` = rate(b) − rate(a) on the items both models were scored on, with a {pct} paired-bootstrap "
              f"CI; p from the exact McNemar test for 0/1 metrics with one sample per independent item, a "
              f"bootstrap Wald test otherwise; Holm-adjusted within each {_family_word(cfg)}. *Equivalent* = TOST "
              f"rejects |diff| ≥ {cfg.equivalence_margin:g} at α = {alpha:.2g}. MDD₈₀ = the smallest difference "
              f"this n detects with 80% power.", ""]
    comp = stats.comparisons.to_pylist()
    for a, b in dict.fromkeys((r["model_a"], r["model_b"]) for r in comp):
        mine = [r for r in comp if (r["model_a"], r["model_b"]) == (a, b)]
        eq = sum(r["equivalent"] for r in mine)
        sig = sum((r["p_holm"] is not None and r["p_holm"] < alpha) for r in mine)
        lines += [f"### {a} ({stages.get(a, '?')}) → {b} ({stages.get(b, '?')})", "",
                  f"Equivalent within ±{cfg.equivalence_margin:g} on **{eq} of {len(mine)}** benchmark metrics; "
                  f"different (Holm p < {alpha:.2g}) on **{sig}**.", ""]
        lines += _table(["benchmark", "metric", f"{a}", f"{b}", f"diff [{pct} CI]", "p", "p (Holm)", "test",
                         "equivalent", "TOST p", "MDD₈₀", "n items"],
                        [[shown.get(r["benchmark"], r["benchmark"]), r["metric"], _num(r["rate_a"]), _num(r["rate_b"]),
                          f"{_signed(r['diff'])} [{_signed(r['ci_low'])}, {_signed(r['ci_high'])}]",
                          _p(r["p_value"]), _p(r["p_holm"]), r["test"], "yes" if r["equivalent"] else "no",
                          _p(r["tost_p"]), _num(r["mdd_80"]), str(r["n_items"])] for r in mine])
        lines.append("")
    if not comp:
        lines += ["No comparisons: fewer than two models, or no metric graded for both models of a pair.", ""]
    lines += ["## Where the stages disagree", ""]
    dis = disagreements.to_pylist()
    if not dis:
        lines += ["No disagreements to show.", ""]
    for (a, b, bench, metric) in dict.fromkeys((r["model_a"], r["model_b"], r["benchmark"], r["metric"]) for r in dis):
        mine = [r for r in dis if (r["model_a"], r["model_b"], r["benchmark"], r["metric"]) == (a, b, bench, metric)]
        lines += [f"### {a} vs {b}: {shown.get(bench, bench)} / {metric}", ""]
        lines += _table(["item", "prompt", f"{a}", f"{a} response", f"{b}", f"{b} response"],
                        [[f"{r['item_id']}#{r['sample_idx']}", r["prompt"] or "",
                          f"{_num(r['value_a'])} {r['label_a'] or ''}".strip(), r["response_a"] or "",
                          f"{_num(r['value_b'])} {r['label_b'] or ''}".strip(), r["response_b"] or ""] for r in mine])
        lines.append("")
    if trajectories:
        lines += ["## Agent episodes", "",
                  "What the agent ran, what the machine answered and the files it changed, for a few episodes per "
                  "model and agentic benchmark (highest score first; every episode is in the store).", ""]
        lines += _table(["model", "benchmark", "item", "grade", "score", "ended", "steps", "episode"],
                        [[t["model"], shown.get(t["benchmark"], t["benchmark"]), f"{t['item_id']}#{t['sample_idx']}",
                          str(t["label"] or ""), _num(t["score"]), str(t["ended"] or ""), str(t["steps"]),
                          f"[{Path(t['path']).name}]({_relative(Path(t['path']), report_dir)})"] for t in trajectories])
        lines.append("")
    lines += ["---", "Files: `summary.csv`, `comparisons.csv`, `headline.csv`, `headline_pooled.csv`, "
              "`disagreements.csv`, `figure.png`/`figure.svg`.", ""]
    return "\n".join(lines)


def _headline_section(headline: pa.Table | None, pooled: pa.Table | None, cfg: AnalysisConfig,
                      shown: dict[str, str]) -> list[str]:
    """The published study's comparison (`analysis.headline`, e.g. SFT-only vs production) per family, and pooled."""
    if cfg.headline is None:
        return []
    a, b = cfg.headline
    pct, alpha = f"{cfg.confidence:.0%}", 1 - cfg.confidence
    lines = ["", f"## Headline: {a} vs {b}, per family", ""]
    rows = headline.to_pylist() if headline is not None else []
    if not rows:
        return lines + [f"No family has scored models of both stages {a!r} and {b!r}.", ""]
    lines += [f"The paired comparisons of each family's `{a}` and `{b}` models (section Stage vs stage; "
              f"`headline.csv`): diff = rate({b}) − rate({a}) with its {pct} CI, Holm-adjusted p, equivalence "
              f"within ±{cfg.equivalence_margin:g} (TOST).", ""]
    lines += _table(["family", "benchmark", "metric", f"{a} model", f"{b} model", f"diff [{pct} CI]", "p (Holm)",
                     "equivalent", "n items"],
                    [[r["family"] or "–", shown.get(r["benchmark"], r["benchmark"]), r["metric"],
                      f"{r['model_a']} {_num(r['rate_a'])}", f"{r['model_b']} {_num(r['rate_b'])}",
                      f"{_signed(r['diff'])} [{_signed(r['ci_low'])}, {_signed(r['ci_high'])}]", _p(r["p_holm"]),
                      "yes" if r["equivalent"] else "no", str(r["n_items"])] for r in rows])
    pooled_rows = pooled.to_pylist() if pooled is not None else []
    if pooled_rows:
        lines += ["", f"**Pooled across families** (`headline_pooled.csv`), stratified by family: "
                  f"{pooled_rows[0]['method']}; weights 1/SE² of each family's own paired difference; Holm across "
                  f"the pooled benchmark metrics; heterogeneity p from Cochran's Q (small: the families disagree "
                  f"and the pooled value averages unlike effects).", ""]
        lines += _table(["benchmark", "metric", "families", f"pooled diff [{pct} CI]", "p (Holm)", "equivalent",
                         "heterogeneity p", "n items"],
                        [[shown.get(r["benchmark"], r["benchmark"]), r["metric"], r["families"],
                          f"{_signed(r['diff'])} [{_signed(r['ci_low'])}, {_signed(r['ci_high'])}]", _p(r["p_holm"]),
                          "yes" if r["equivalent"] else "no", _p(r["heterogeneity_p"]), str(r["n_items"])]
                         for r in pooled_rows])
        different = sum(r["p_holm"] < alpha for r in pooled_rows)
        lines += ["", f"Pooled: equivalent on **{sum(r['equivalent'] for r in pooled_rows)} of {len(pooled_rows)}** "
                  f"benchmark metrics, different (Holm p < {alpha:.2g}) on **{different}**."]
    return lines + [""]


def _relative(path: Path, report_dir: Path | None) -> str:
    try:
        return path.relative_to(report_dir).as_posix() if report_dir is not None else path.as_posix()
    except ValueError:
        return path.as_posix()


def benchmark_label(benchmark: str, source: str) -> str:
    """How reports name a benchmark: an embedded lookalike never by the public name alone."""
    return f"{benchmark} ({source})" if source.endswith(", embedded") else benchmark


def render_html(markdown: str, title: str) -> str:
    try:  # markdown-it-py (CommonMark + tables) comes with typer's rich; without it, the Markdown as text
        from markdown_it import MarkdownIt
    except ImportError:
        body = f"<pre>{html.escape(markdown)}</pre>"
    else:
        body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}th,td{border:1px solid #ccc;"
             "padding:3px 6px;vertical-align:top;text-align:left}th{background:#f3f3f3}img{max-width:100%}"
             "code{background:#f5f5f5;padding:0 3px}")
    return (f"<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n{body}</body></html>\n")


def _family_word(cfg: AnalysisConfig) -> str:
    return "model pair (all its benchmarks x metrics)" if cfg.holm_family == "pair" else "study (every comparison)"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    cell = lambda s: str(s).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")  # noqa: E731
    out = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return out


def _isnan(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _num(x: float | None) -> str:
    return "–" if _isnan(x) else f"{x:.3f}"


def _signed(x: float | None) -> str:
    return "–" if _isnan(x) else f"{x:+.3f}"


def _rate(r: dict) -> str:
    return "–" if _isnan(r["rate"]) else f"{r['rate']:.3f} [{_num(r['ci_low'])}, {_num(r['ci_high'])}]"


def _p(p: float | None) -> str:
    if _isnan(p):
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"
