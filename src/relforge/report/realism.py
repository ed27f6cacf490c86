"""Realism table: generators side by side with a real reference database (docs/results.md).

Usage::

    python -m relforge.report.realism --relforge-seeds 0 1 2 3 4 5 \\
        --plurel-dir PLUREL_DBS --reference f1 --json realism.json

For every database of every group it computes :func:`~relforge.report.metrics.database_metrics`
and, against the reference, the profile similarity and the structural classifier two-sample test
(:mod:`relforge.report.compare`); it prints a Markdown table of median [min, max] over each group.
``PLUREL_DBS`` is a folder of ``plurel-<seed>`` databases, e.g. one made by the anchor script
``../shared/anchors/plurel_generate.py --seeds 0 1 2 3 4 5 --out PLUREL_DBS`` (anchor venv).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from relforge.report.compare import c2st, profile_similarity, structural_features
from relforge.report.html import clean_json
from relforge.report.metrics import database_metrics

#: (row label, headline key, sub-key) of the Markdown table.
ROWS = [
    ("tables", "n_tables", None), ("rows", "n_rows", None),
    ("link dispersion, median over FKs", "dispersion", "median"),
    ("link dispersion, max over FKs", "dispersion", "max"),
    ("share of FKs with dispersion > 2", "frac_links_overdispersed", None),
    ("child-count Gini, median over FKs", "gini", "median"),
    ("lag-1 autocorr. of activity columns, median", "lag1", "median"),
    ("lag-1 autocorr., min", "lag1", "min"), ("lag-1 autocorr., max", "lag1", "max"),
    ("abs. trend vs time (Spearman), median", "abs_trend", "median"),
    ("within-table dependence, median over pairs", "within_table_dependence", "median"),
    ("1-hop: max child-parent dependence per FK, median", "one_hop_max_dependence", "median"),
    ("1-hop: parent effect (adj. eta²), median", "one_hop_parent_effect", "median"),
    ("2-hop: max dependence per path, median", "two_hop_max_dependence", "median"),
    ("missing rate of feature columns, mean", "missing_mean_rate", None),
    ("share of feature columns with missing values", "frac_features_with_missing", None),
]
SCORE_ROWS = ["log10_dispersion", "lag1_autocorr", "within_table_dependence", "one_hop_dependence",
              "parent_effect", "two_hop_dependence", "missing_rate"]


def _get(h: dict, k: str, sub: str | None):
    v = h.get(k)
    return v.get(sub) if isinstance(v, dict) and sub else (None if isinstance(v, dict) else v)


def evaluate(groups: dict[str, list], reference, *, seed: int = 0, log=print) -> dict:
    """Metrics of every database in ``groups`` (name -> list of specs accepted by
    :func:`relforge.report.resolve_database`) and their scores against ``reference``."""
    from relforge.report import resolve_database

    ref_db, ref_label = resolve_database(reference)
    ref_m = database_metrics(ref_db, seed=seed)
    ref_sf = structural_features(ref_db)
    out = dict(reference=dict(label=ref_label, headline=ref_m["headline"]), groups={})
    for g, specs in groups.items():
        rows = []
        for spec in specs:
            t0 = time.perf_counter()
            db, label = resolve_database(spec)
            m = database_metrics(db, seed=seed)
            prof = profile_similarity(m, ref_m)
            sc = c2st(structural_features(db), ref_sf, seed=seed, key="structural")
            vals = [v for v in prof.values() if v is not None]
            rows.append(dict(label=label, headline=m["headline"], profile=prof,
                             profile_mean=float(np.mean(vals)) if vals else None, structural_c2st=sc.get("auroc")))
            log(f"{g} {label}: {time.perf_counter() - t0:.1f} s")
        out["groups"][g] = rows
    return out


def _agg(vals: list) -> str:
    v = np.asarray([x for x in vals if x is not None], np.float64)
    if len(v) == 0:
        return "–"
    f = (lambda x: f"{x:,.0f}") if np.all(np.abs(v) >= 100) or np.all(v == np.round(v)) and np.all(np.abs(v) >= 2) \
        else (lambda x: f"{x:.2f}")
    return f(np.median(v)) if len(v) == 1 else f"{f(np.median(v))} [{f(v.min())}, {f(v.max())}]"


def markdown(res: dict) -> str:
    """The side-by-side table: median [min, max] over each group's databases; reference as is."""
    groups = list(res["groups"])
    ref = res["reference"]
    head = "| metric | " + " | ".join(f"{g} (n={len(res['groups'][g])})" for g in groups) + f" | {ref['label']} |"
    lines = [head, "|---" * (len(groups) + 2) + "|"]
    for title, k, sub in ROWS:
        cells = [_agg([_get(r["headline"], k, sub) for r in res["groups"][g]]) for g in groups]
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {_agg([_get(ref['headline'], k, sub)])} |")
    for s in SCORE_ROWS:
        cells = [_agg([r["profile"].get(s) for r in res["groups"][g]]) for g in groups]
        lines.append(f"| profile similarity to {ref['label']}: {s} (1-KS) | " + " | ".join(cells) + " | 1 |")
    lines.append(f"| profile similarity to {ref['label']}, mean of all families | "
                 + " | ".join(_agg([r["profile_mean"] for r in res["groups"][g]]) for g in groups) + " | 1 |")
    lines.append(f"| structural C2ST AUROC vs {ref['label']} (0.5 = indistinguishable) | "
                 + " | ".join(_agg([r["structural_c2st"] for r in res["groups"][g]]) for g in groups) + " | 0.5 |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m relforge.report.realism", description=__doc__.splitlines()[0])
    ap.add_argument("--relforge-seeds", type=int, nargs="*", default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--config", default=None, help="relforge generator config TOML")
    ap.add_argument("--plurel-dir", default=None, help="folder of plurel-<seed>/ databases (anchors' --out)")
    ap.add_argument("--reference", default="f1")
    ap.add_argument("--json", default=None, help="also write every number to this JSON file")
    a = ap.parse_args(argv)
    from relforge.generate.pipeline import generate_database

    groups: dict[str, list] = {}
    if a.relforge_seeds:
        groups["relforge"] = [generate_database(s, a.config) for s in a.relforge_seeds]
        for s, db in zip(a.relforge_seeds, groups["relforge"]):
            db.name = f"relforge-{s}"
    if a.plurel_dir:
        groups["plurel 1.1.0"] = sorted(str(p) for p in Path(a.plurel_dir).iterdir() if p.is_dir())
    res = evaluate(groups, a.reference, log=lambda s: print(s, file=sys.stderr))
    if a.json:
        Path(a.json).write_text(json.dumps(clean_json(res), indent=1))
    print(markdown(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
