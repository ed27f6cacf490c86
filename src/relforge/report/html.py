"""Report rendering: one self-contained HTML page (inline CSS, a tiny inline script), PNG plots in
``plots/`` and every number in ``metrics.json``.

The inline script sets ``document.title`` to ``"... [images L/T]"`` once the page has loaded, where
L counts the ``<img>`` elements that decoded and T all of them; the headless-browser check
(:mod:`relforge.report.browser`) reads it back.
"""
from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path

from relforge.report import plots
from relforge.report.metrics import safe

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#263238;color:#fff;padding:14px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#cfd8dc;font-size:13px}
nav{padding:6px 24px;background:#eceff1;font-size:13px}nav a{margin-right:14px;color:#1e88e5}
main{padding:8px 24px 40px;max-width:1400px}
h2{border-bottom:2px solid #cfd8dc;padding-bottom:4px;margin-top:30px;font-size:19px}
h3{font-size:15px;margin:18px 0 6px}
table{border-collapse:collapse;font-size:12px;margin:6px 0 12px;background:#fff}
th,td{border:1px solid #cfd8dc;padding:3px 7px;text-align:right}th{background:#eceff1}
td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #ddd;background:#fff;margin:4px 0}
.grid img{max-height:820px;width:auto}
.note{color:#555;font-size:12.5px;max-width:1000px}.err{color:#b71c1c;font-size:12px}
details{margin:6px 0}summary{cursor:pointer;font-weight:600;font-size:13px}
.good{background:#e8f5e9}.bad{background:#ffebee}.grid{display:flex;flex-wrap:wrap;gap:10px}
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].complete && imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
  document.title = document.title + ' [images ' + ok + '/' + imgs.length + ']';
});
"""


# ----------------------------------------------------------------------------------------------
# small helpers


def clean_json(x):
    """Recursively replace NaN/inf by None and numpy scalars by Python numbers (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): clean_json(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_json(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):
        try:
            x = x.item()
        except (ValueError, AttributeError):
            return str(x)
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, (str, int, float, bool)) or x is None:
        return x
    return str(x)


def write_json(obj, path: Path) -> None:
    path.write_text(json.dumps(clean_json(obj), indent=1, allow_nan=False))


def _e(x) -> str:
    return html.escape(str(x))


def fmt(x, digits: int = 3) -> str:
    """Compact number formatting for tables (``–`` for missing)."""
    if x is None:
        return "–"
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int):
        return f"{x:,}"
    if isinstance(x, float):
        if not math.isfinite(x):
            return "–"
        if x != 0 and (abs(x) >= 1e5 or abs(x) < 1e-3):
            return f"{x:.2e}"
        return f"{x:.{digits}f}"
    return _e(x)


def table_html(header: list[str], rows: list[list], cls: list[str] | None = None) -> str:
    th = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for i, r in enumerate(rows):
        c = f' class="{cls[i]}"' if cls and cls[i] else ""
        body.append(f"<tr{c}>" + "".join(f"<td>{v if isinstance(v, str) else fmt(v)}</td>" for v in r) + "</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s)[:80]


class _Plots:
    """Draws plots into ``out/plots`` under :func:`safe`; remembers failures for the page."""

    def __init__(self, out: Path):
        self.dir = out / "plots"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.errors: list[str] = []

    def img(self, name: str, fn, *args, alt: str = "", **kw) -> str:
        path = self.dir / f"{_slug(name)}.png"
        r = safe(fn, *args, path=path, **kw)
        if isinstance(r, dict) and "error" in r:
            self.errors.append(f"{name}: {r['error']}")
            return f'<p class="err">plot {_e(name)} failed: {_e(r["error"])}</p>'
        return f'<img src="plots/{path.name}" alt="{_e(alt or name)}" loading="eager">'


def _err(d) -> str:
    return f'<p class="err">error: {_e(d["error"])}</p>' if isinstance(d, dict) and "error" in d else ""


# ----------------------------------------------------------------------------------------------
# sections


HEADLINE_ROWS = [
    ("tables", "n_tables", None), ("rows", "n_rows", None), ("columns", "n_columns", None),
    ("foreign keys", "n_fkeys", None),
    ("link dispersion, median", "dispersion", "median"), ("link dispersion, max", "dispersion", "max"),
    ("share of links with dispersion > 2", "frac_links_overdispersed", None),
    ("child-count Gini, median", "gini", "median"),
    ("lag-1 autocorrelation, median", "lag1", "median"), ("lag-1 autocorrelation, min", "lag1", "min"),
    ("lag-1 autocorrelation, max", "lag1", "max"), ("|trend| vs time, median", "abs_trend", "median"),
    ("within-table dependence, median", "within_table_dependence", "median"),
    ("1-hop max dependence per FK, median", "one_hop_max_dependence", "median"),
    ("1-hop parent effect (adj. eta²), median", "one_hop_parent_effect", "median"),
    ("2-hop max dependence per path, median", "two_hop_max_dependence", "median"),
    ("missing rate (features), mean", "missing_mean_rate", None),
    ("share of features with any missing", "frac_features_with_missing", None),
]


def headline_html(ms: list[dict], labels: list[str]) -> str:
    rows = []
    for title, k, sub in HEADLINE_ROWS:
        vals = []
        for m in ms:
            h = m.get("headline") or {}
            v = h.get(k) if isinstance(h, dict) else None
            vals.append(v.get(sub) if isinstance(v, dict) and sub else v)
        rows.append([title, *vals])
    return table_html(["metric", *labels], rows)


def links_html(m: dict) -> str:
    links = m.get("links") or {}
    if "error" in links:
        return _err(links)
    rows = [[_e(k), v.get("n_parents"), v.get("n_children"), v.get("mean"), v.get("dispersion"), v.get("frac_zero"),
             v.get("gini"), v.get("p99"), v.get("max")] if "error" not in v else [_e(k), _err(v)] + [""] * 7
            for k, v in links.items()]
    return table_html(["parent->child.fk", "parents", "children", "mean", "dispersion", "zero share", "Gini",
                       "p99", "max"], rows)


def columns_html(m: dict, tag: str, pl: _Plots) -> str:
    cols = m.get("columns") or {}
    if "error" in cols:
        return _err(cols)
    parts = []
    pairs = m.get("pairs") or {}
    for t, cd in cols.items():
        rows = []
        for c, v in cd.items():
            if "error" in v:
                rows.append([_e(c), _err(v)] + [""] * 6)
                continue
            summary = (f"{fmt(v.get('mean'))} ± {fmt(v.get('std'))}" if "mean" in v else
                       ", ".join(f"{_e(a)}: {b}" for a, b in (v.get("top") or [])[:3]) if "top" in v else
                       f"mean length {fmt(v.get('mean_len'))}")
            rows.append([_e(c), v.get("stype"), v.get("missing"), v.get("n_unique"), summary,
                         v.get("q50"), v.get("entropy_norm")])
        inner = table_html(["column", "type", "missing", "distinct", "mean ± sd / top levels", "median",
                            "entropy (norm.)"], rows)
        inner += pl.img(f"{tag}_marginals_{t}", plots.plot_marginals, cd, f"{t}: column marginals")
        p = pairs.get(t)
        if isinstance(p, dict) and "error" in p:
            inner += _err(p)
        elif isinstance(p, dict) and len(p.get("columns", [])) >= 2:
            inner += pl.img(f"{tag}_pairs_{t}", plots.plot_pairs, p, f"{t}: within-table dependence")
            top = sorted(((a.get("strength") or 0.0, k, a.get("measure")) for k, a in p["pairs"].items()),
                         reverse=True)[:5]
            inner += table_html(["strongest pairs", "measure", "strength"], [[_e(k), _e(ms), s] for s, k, ms in top])
        parts.append(f"<details><summary>{_e(t)} ({len(cd)} columns)</summary>{inner}</details>")
    return "".join(parts)


def cross_html(m: dict) -> str:
    out = []
    for key, title in (("cross_1hop", "1 hop: child columns vs parent columns"),
                       ("cross_2hop", "2 hops: child columns vs grandparent columns")):
        d = m.get(key) or {}
        if "error" in d:
            out.append(_err(d))
            continue
        rows = []
        for k, v in d.items():
            if "error" in v:
                rows.append([_e(k), _err(v), "", "", "", ""])
                continue
            top = "; ".join(f"{_e(p)} {fmt(s, 2)}" for p, s in v.get("top", []))
            rows.append([_e(k), v.get("n_rows"), v.get("max"), v.get("mean"), v.get("parent_effect_median"), top])
        out.append(f"<h3>{title}</h3>" + (table_html(["path", "rows used", "max", "mean", "parent effect (median adj. eta²)",
                                                      "strongest pairs"], rows) if rows else "<p class=note>none</p>"))
    return "".join(out)


def temporal_html(m: dict) -> str:
    temp = m.get("temporal") or {}
    if "error" in temp:
        return _err(temp)
    rows = []
    for t, v in temp.items():
        if "error" in v:
            rows.append([_e(t), _err(v), "", "", ""])
            continue
        rows.append([f"<b>{_e(t)}</b> (row volume per bin)", v.get("n_rows"), v.get("volume_lag1"), "", ""])
        for c, d in (v.get("columns") or {}).items():
            rows.append([f"{_e(t)}.{_e(c)}", "", d.get("lag1"), d.get("trend"), ""])
    if not rows:
        return "<p class=note>no table has a time column</p>"
    return table_html(["table / column", "rows", "lag-1 autocorrelation", "trend (Spearman vs time)", ""], rows)


def comparison_html(cmp: dict, labels: list[str], pl: _Plots, ma: dict, mb: dict) -> str:
    from relforge.report.compare import _profile_values

    out = ["<h2 id=scores>Similarity scores</h2>"]
    prof = cmp.get("profile") or {}
    sc = prof.get("scores") or {}
    out.append("<h3>Profile similarity (any two schemas: 1 - KS between the sets of per-link / per-column values)</h3>")
    if "error" in sc:
        out.append(_err(sc))
    else:
        out.append(table_html(["metric family", "1 - KS"], [[_e(k), v] for k, v in sc.items()] + [["<b>mean</b>", prof.get("mean")]]))
        out.append(pl.img("profile_ecdf", plots.plot_profile, [_profile_values(ma), _profile_values(mb)], labels, sc))
    s = cmp.get("structural_c2st") or {}
    out.append("<h3>Classifier two-sample test on parent rows (schema-free features)</h3>")
    out.append(_err(s) or table_html(["test", "AUROC (0.5 = indistinguishable)", "rows per side", "features"],
                                      [["structural C2ST", s.get("auroc"), s.get("n_per_side"), s.get("n_features")]]))
    mt = cmp.get("matched") or {}
    shared = mt.get("shared_tables") or []
    out.append("<h3>Matched scores (SDMetrics style; tables, keys and columns matched by name)</h3>")
    if not shared:
        out.append("<p class=note>The two schemas share no table names, so only the profile scores apply.</p>")
    else:
        out.append(f"<p class=note>Shared tables: {_e(', '.join(shared))}. These scores are meaningful only when "
                   "equal names denote the same entity (e.g. a database and its synthetic copy).</p>")
        means = mt.get("means") or {}
        out.append(table_html(["score", "mean"], [[_e(k), v] for k, v in means.items()] + [["<b>quality (mean)</b>", mt.get("quality")]]))
        c2 = mt.get("c2st") or {}
        if "error" in c2:
            out.append(_err(c2))
        elif c2:
            out.append(table_html(["table", "C2ST AUROC", "rows per side", "features"],
                                  [[_e(t), v.get("auroc"), v.get("n_per_side"), v.get("n_features")] for t, v in c2.items()]))
        pv = mt.get("privacy")
        if isinstance(pv, dict) and "error" in pv:
            out.append(_err(pv))
        elif pv:
            out.append(f"<h3>Privacy: rows of {_e(labels[0])} against rows of {_e(labels[1])}</h3>"
                       "<p class=note>Exact-match share: rows equal to some row of the other database on every shared "
                       "non-key, non-text column. DCR: distance to the closest such row (Gower, 0 = a copy). The holdout "
                       "row compares half of the second database with its other half: the baseline of how alike real "
                       "rows are.</p>")
            rows = [["all tables (rows-weighted share, mean of medians)", pv.get("exact_match_share"),
                     pv.get("holdout_exact_match_share"), pv.get("dcr_median"), pv.get("dcr_median_vs_rest"),
                     pv.get("holdout_dcr_median")]]
            rows += [[_e(t), v.get("exact_match_share"), v.get("holdout_exact_match_share"), v.get("dcr_median"),
                      v.get("dcr_median_vs_rest"), v.get("holdout_dcr_median")]
                     for t, v in (pv.get("tables") or {}).items() if isinstance(v, dict)]
            out.append(table_html(["table", "exact-match share", "holdout", "median DCR",
                                   "median DCR vs the holdout's reference", "holdout"], rows))
        for key, title in (("cardinality_shape", "cardinality shape similarity per FK"),
                           ("column_shapes", "column shape similarity"), ("pair_trends", "pair trends")):
            d = mt.get(key) or {}
            if "error" in d:
                out.append(_err(d))
            elif d:
                out.append(f"<details><summary>{title} ({len(d)})</summary>"
                           + table_html(["item", "score"], [[_e(k), v] for k, v in d.items()]) + "</details>")
    return "".join(out)


# ----------------------------------------------------------------------------------------------
# pages


def _page(title: str, subtitle: str, nav: list[tuple[str, str]], body: str, errors: list[str]) -> str:
    navh = "".join(f'<a href="#{a}">{_e(t)}</a>' for a, t in nav)
    errh = ("<h2 id=errors>Recorded errors</h2><ul>" + "".join(f"<li class=err>{_e(e)}</li>" for e in errors)
            + "</ul>") if errors else ""
    return (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
            f"<meta name=viewport content='width=device-width'><style>{CSS}</style></head><body>"
            f"<header><h1>{_e(title)}</h1><p>{_e(subtitle)}</p></header><nav>{navh}</nav>"
            f"<main>{body}{errh}<p class=note>All numbers are in metrics.json.</p></main>"
            f"<script>{SCRIPT}</script></body></html>")


def _collect_errors(obj, path: str = "", out: list | None = None) -> list[str]:
    out = [] if out is None else out
    if isinstance(obj, dict):
        if set(obj) == {"error"}:
            out.append(f"{path}: {obj['error']}")
        for k, v in obj.items():
            if k != "error":
                _collect_errors(v, f"{path}/{k}" if path else str(k), out)
    return out


def learnability_html(results: list[dict], labels: list[str]) -> str:
    """Summary and per-task table of the learnability probe (``relforge.report.learnability``)."""
    keys = ("tasks", "skill_a", "skill_b", "skill_c", "skill_d", "lift", "lift_d_sib", "r2_d", "auroc_d")
    parts = ["<p class=note>Cross-validated LightGBM predicting each autocomplete cell from (a) its row, "
             "(b) + parent rows, (c) + child aggregates, (d) + out-of-fold sibling target means. Skill = R2 "
             "(numeric) or 2·AUROC−1 (categorical); medians over tasks. Relational lift = median of (d) − (a).</p>"]
    parts.append(table_html(["database", "tasks", "a", "b", "c", "d", "lift d−a", "siblings d−c", "R2 (d)", "AUROC (d)"],
                            [[_e(lab)] + [r["summary"].get(k) for k in keys] for r, lab in zip(results, labels)]))
    for r, lab in zip(results, labels):
        parts.append(f"<h3>{_e(lab)}</h3>" + table_html(
            ["table", "column", "metric", "rows", "a", "b", "c", "d"],
            [[_e(t["table"]), _e(t["column"]), t["metric"], t["rows"], t["a"], t["b"], t["c"], t["d"]]
             for t in r["tasks"]]))
    return "".join(parts)


def render_database_report(out: Path, dbs: list, ms: list[dict], labels: list[str], comparison: dict | None,
                           meta: dict, learn: list[dict] | None = None) -> None:
    """Write ``index.html``, ``plots/*.png`` and ``metrics.json`` for one database or a pair into ``out``
    (with ``learn``, the learnability probe results per database, a "Learnability" section)."""
    from relforge.plotting import plot_schema

    pl = _Plots(out)
    tags = ["a", "b"][: len(ms)]
    body = []
    title = "Realism report: " + " vs ".join(labels)
    body.append("<h2 id=headline>Headline</h2>")
    body.append("<p class=note>Dispersion = variance / mean of child counts per parent row (1 = Poisson). "
                "Dependence strengths: |Spearman| for numeric pairs, Cramér's V for categorical pairs, "
                "correlation ratio eta for mixed pairs. Parent effect = adjusted eta² of a child column grouped "
                "by its parent row. Lag-1 autocorrelation: rows of a timed table sorted by time.</p>")
    body.append(headline_html(ms, labels))
    if comparison is not None:
        body.append(comparison_html(comparison, labels, pl, ms[0], ms[1]))
    body.append("<h2 id=schema>Schema</h2><div class=grid>")
    for db, tag, lab in zip(dbs, tags, labels):
        body.append(pl.img(f"{tag}_schema", lambda path, db=db, lab=lab: plot_schema(db, path, title=f"{lab}: schema"),
                           alt=f"{lab} schema graph"))
    body.append("</div>")
    body.append("<h2 id=links>Foreign keys: child counts</h2>")
    body.append(pl.img("ccdf", plots.plot_ccdf, ms, labels) + pl.img("dispersion", plots.plot_dispersion, ms, labels))
    for m, lab in zip(ms, labels):
        body.append(f"<h3>{_e(lab)}</h3>" + links_html(m))
    body.append("<h2 id=columns>Columns: marginals and within-table dependence (0 hops)</h2>")
    for m, tag, lab in zip(ms, tags, labels):
        body.append(f"<h3>{_e(lab)}</h3>" + columns_html(m, tag, pl))
    body.append("<h2 id=cross>Cross-table dependence (1 and 2 hops)</h2>")
    body.append(pl.img("cross", plots.plot_cross, ms, labels))
    for m, lab in zip(ms, labels):
        body.append(f"<h3>{_e(lab)}</h3>" + cross_html(m))
    body.append("<h2 id=temporal>Temporal autocorrelation and trend</h2>")
    for m, tag, lab in zip(ms, tags, labels):
        body.append(f"<h3>{_e(lab)}</h3>" + pl.img(f"{tag}_temporal", plots.plot_temporal, m, lab) + temporal_html(m))
    body.append("<h2 id=missing>Missing values</h2>")
    body.append(pl.img("missing", plots.plot_missing, ms, labels))
    nav = [("headline", "Headline")] + ([("scores", "Scores")] if comparison else []) + [
        ("schema", "Schema"), ("links", "Foreign keys"), ("columns", "Columns"), ("cross", "Cross-table"),
        ("temporal", "Temporal"), ("missing", "Missing")]
    if learn:
        body.append("<h2 id=learnability>Learnability probe</h2>" + learnability_html(learn, labels))
        nav.append(("learnability", "Learnability"))
    errors = pl.errors + _collect_errors({lab: m for lab, m in zip(labels, ms)})
    if comparison is not None:
        errors += _collect_errors({"comparison": comparison})
    sub = f"relforge report · seed {meta.get('seed')} · " + " · ".join(
        f"{lab}: {m.get('headline', {}).get('n_tables')} tables, {fmt(m.get('headline', {}).get('n_rows'))} rows"
        for lab, m in zip(labels, ms))
    (out / "index.html").write_text(_page(title, sub, nav, "".join(body), errors))
    payload = dict(meta=meta, labels=labels, databases={lab: m for lab, m in zip(labels, ms)}, comparison=comparison,
                   plot_errors=pl.errors)
    if learn:
        payload["learnability"] = {lab: r for lab, r in zip(labels, learn)}
    write_json(payload, out / "metrics.json")


def render_corpus_report(out: Path, cm: dict, meta: dict) -> None:
    """Write the corpus page: summary table, histograms, one row per database."""
    pl = _Plots(out)
    rows = cm["rows"]
    body = ["<h2 id=summary>Summary over databases</h2>"]
    summ = cm["summary"]
    body.append(table_html(["field", "databases", "median", "mean", "min", "max"],
                           [[_e(k), v.get("n"), v.get("median"), v.get("mean"), v.get("min"), v.get("max")]
                            for k, v in summ.items() if k != "stype_share"]))
    body.append(table_html(["column type", "share of feature columns"],
                           [[_e(k), v] for k, v in (summ.get("stype_share") or {}).items()]))
    body.append("<h2 id=plots>Distributions</h2>" + pl.img("corpus", plots.plot_corpus, rows))
    body.append("<h2 id=dbs>Databases</h2>")
    body.append(table_html(["database", "tables", "rows", "columns", "FKs", "activity tables",
                            "median log10 dispersion", "max dispersion", "median lag-1", "missing rate"],
                           [[_e(r["name"]), r["n_tables"], r["n_rows"], r["n_columns"], r["n_fkeys"], r["n_activity"],
                             r["log10_dispersion_median"], r["dispersion_max"], r["lag1_median"],
                             r["missing_mean_rate"]] for r in rows]))
    errors = pl.errors + [f"{e['name']}: {e['error']}" for e in cm.get("errors", [])]
    title = f"Corpus report: {Path(cm['path']).name}"
    sub = f"{len(rows)} of {cm['n_databases']} databases summarised"
    nav = [("summary", "Summary"), ("plots", "Distributions"), ("dbs", "Databases")]
    (out / "index.html").write_text(_page(title, sub, nav, "".join(body), errors))
    write_json(dict(meta=meta, corpus=cm, plot_errors=pl.errors), out / "metrics.json")
