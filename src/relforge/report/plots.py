"""PNG plots of the report, drawn with matplotlib's Agg canvas from metrics dicts (no pyplot state).

Every function takes one or two metrics dicts (from :func:`relforge.report.metrics.database_metrics`)
plus labels, and writes one PNG to ``path``. The schema graph reuses :func:`relforge.plotting.plot_schema`.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

DPI = 80
COLORS = ("#1f77b4", "#d62728")


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path, grid: bool = False) -> Path:
    if grid:  # fixed margins: tight_layout costs ~0.1 s per subplot
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.1, top=0.88, hspace=0.75, wspace=0.3)
    else:
        fig.tight_layout()
    fig.savefig(path, format="png", dpi=DPI)
    return path


def _short(s: str, n: int = 28) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def plot_ccdf(ms: list[dict], labels: list[str], path: Path) -> Path:
    """Log-log CCDF P(X >= x) of the child counts of every foreign key, one panel per database."""
    fig = _figure(5.2 * len(ms), 4.0)
    for i, (m, lab) in enumerate(zip(ms, labels)):
        ax = fig.add_subplot(1, len(ms), i + 1)
        links = {k: v for k, v in (m.get("links") or {}).items() if isinstance(v, dict) and "ccdf_x" in v}
        for k, v in links.items():
            x, p = np.asarray(v["ccdf_x"]), np.asarray(v["ccdf_p"])
            keep = x >= 1
            if keep.any():
                ax.plot(x[keep], p[keep], lw=1, alpha=0.8, label=_short(k, 34))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("children per parent row, x")
        ax.set_ylabel("P(count >= x)")
        ax.set_title(f"{lab}: child-count CCDF", fontsize=10)
        ax.grid(alpha=0.3, which="both")
        if 0 < len(links) <= 10:
            ax.legend(fontsize=6, loc="lower left")
    return _save(fig, path)


def plot_dispersion(ms: list[dict], labels: list[str], path: Path) -> Path:
    """Dispersion (variance / mean) of child counts per foreign key, log scale; 1 = Poisson."""
    n = max(max((len(m.get("links") or {}) for m in ms), default=1), 1)
    fig = _figure(5.2 * len(ms), min(2.0 + 0.18 * n, 14))
    for i, (m, lab) in enumerate(zip(ms, labels)):
        ax = fig.add_subplot(1, len(ms), i + 1)
        items = [(k, v["dispersion"]) for k, v in (m.get("links") or {}).items()
                 if isinstance(v, dict) and v.get("dispersion")]
        if items:
            ax.barh(range(len(items)), [d for _, d in items], color=COLORS[i % 2])
            ax.set_yticks(range(len(items)), [_short(k, 34) for k, _ in items], fontsize=6)
            ax.set_xscale("log")
        ax.axvline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xlabel("dispersion (var / mean); dashed = Poisson")
        ax.set_title(f"{lab}: link dispersion", fontsize=10)
        ax.invert_yaxis()
    return _save(fig, path)


def plot_marginals(cols: dict, title: str, path: Path, max_cols: int = 12) -> Path:
    """Small multiples of column marginals: histograms (numeric/datetime) or top-level bars."""
    items = [(c, v) for c, v in cols.items() if isinstance(v, dict) and ("hist" in v or "top" in v)][:max_cols]
    k = max(len(items), 1)
    nc = min(4, k)
    nr = math.ceil(k / nc)
    fig = _figure(3.0 * nc, 2.2 * nr + 0.4)
    for i, (c, v) in enumerate(items):
        ax = fig.add_subplot(nr, nc, i + 1)
        if "hist" in v:
            e = np.asarray(v["edges"])
            ax.bar(e[:-1], v["hist"], width=np.diff(e), align="edge", color=COLORS[0])
            if v.get("stype") == "datetime":
                ax.set_xticks([])
        else:
            top = v["top"][:8]
            ax.bar(range(len(top)), [t[1] for t in top], color=COLORS[1])
            ax.set_xticks(range(len(top)), [_short(t[0], 8) for t in top], fontsize=6, rotation=45)
        miss = v.get("missing") or 0.0
        ax.set_title(_short(c, 22) + (f" ({miss:.0%} missing)" if miss else ""), fontsize=8)
        ax.tick_params(labelsize=6)
    if not items:
        fig.text(0.5, 0.5, "no numeric or categorical columns", ha="center")
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, grid=True)


def plot_pairs(p: dict, title: str, path: Path) -> Path:
    """Heatmap of within-table dependence strengths (|Spearman|, Cramér's V, eta)."""
    cols = p["columns"]
    k = len(cols)
    mat = np.array([[np.nan if x is None else x for x in row] for row in p["strength"]], dtype=np.float64)
    fig = _figure(min(2.0 + 0.32 * k, 11), min(1.6 + 0.3 * k, 10))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(mat, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(k), [_short(c, 14) for c in cols], fontsize=6, rotation=90)
    ax.set_yticks(range(k), [_short(c, 14) for c in cols], fontsize=6)
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def plot_cross(ms: list[dict], labels: list[str], path: Path) -> Path:
    """Strongest cross-table association per foreign key (1 hop) and per 2-hop path."""
    rows = []
    for m in ms:
        one = [(k, v.get("max")) for k, v in (m.get("cross_1hop") or {}).items() if isinstance(v, dict)]
        two = [(k, v.get("max")) for k, v in (m.get("cross_2hop") or {}).items() if isinstance(v, dict)]
        rows.append((one, two))
    n = max(max((len(a) + len(b) for a, b in rows), default=1), 1)
    fig = _figure(5.5 * len(ms), min(2.0 + 0.17 * n, 16))
    for i, ((one, two), lab) in enumerate(zip(rows, labels)):
        ax = fig.add_subplot(1, len(ms), i + 1)
        items = [(k, v or 0.0, "1 hop") for k, v in one] + [(k, v or 0.0, "2 hops") for k, v in two]
        if items:
            ax.barh(range(len(items)), [v for _, v, _ in items],
                    color=[COLORS[0] if h == "1 hop" else COLORS[1] for _, _, h in items])
            ax.set_yticks(range(len(items)), [_short(k, 36) for k, _, _ in items], fontsize=6)
        ax.set_xlim(0, 1)
        ax.set_xlabel("max association (blue: 1 hop, red: 2 hops)")
        ax.set_title(f"{lab}: cross-table dependence", fontsize=10)
        ax.invert_yaxis()
    return _save(fig, path)


def plot_temporal(m: dict, label: str, path: Path, max_lines: int = 8) -> Path:
    """Lag-1 autocorrelation per activity column (left) and z-scored binned means over time (right)."""
    temp = {k: v for k, v in (m.get("temporal") or {}).items() if isinstance(v, dict)}
    items = [(f"{t}.{c}", d) for t, v in temp.items() for c, d in (v.get("columns") or {}).items()]
    fig = _figure(11, max(3.0, min(1.5 + 0.16 * len(items), 14)))
    ax = fig.add_subplot(1, 2, 1)
    if items:
        ax.barh(range(len(items)), [d.get("lag1") or 0.0 for _, d in items], color=COLORS[0])
        ax.set_yticks(range(len(items)), [_short(k, 30) for k, _ in items], fontsize=6)
    ax.set_xlim(-0.2, 1.0)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("lag-1 autocorrelation (rows in time order)")
    ax.set_title(f"{label}: temporal autocorrelation", fontsize=10)
    ax.invert_yaxis()
    ax2 = fig.add_subplot(1, 2, 2)
    for k, d in items[:max_lines]:
        y = np.array([np.nan if x is None else x for x in d.get("bin_mean", [])], dtype=np.float64)
        if np.isfinite(y).sum() < 2:
            continue
        sd = np.nanstd(y)
        ax2.plot((y - np.nanmean(y)) / (sd if sd > 0 else 1.0), lw=1, label=_short(k, 26))
    ax2.set_xlabel("time bin (equal width)")
    ax2.set_ylabel("bin mean (z-scored)")
    ax2.set_title("trend of activity columns", fontsize=10)
    if items:
        ax2.legend(fontsize=6)
    return _save(fig, path)


def plot_missing(ms: list[dict], labels: list[str], path: Path, max_cols: int = 30) -> Path:
    """Missing-value rate of the columns that have any, per database (top ``max_cols``)."""
    fig = _figure(5.2 * len(ms), 4.5)
    for i, (m, lab) in enumerate(zip(ms, labels)):
        ax = fig.add_subplot(1, len(ms), i + 1)
        tabs = ((m.get("missing") or {}).get("tables") or {})
        items = sorted(((f"{t}.{c}", r) for t, v in tabs.items() for c, r in (v.get("columns") or {}).items()
                        if r), key=lambda x: -x[1])[:max_cols]
        if items:
            ax.barh(range(len(items)), [r for _, r in items], color=COLORS[i % 2])
            ax.set_yticks(range(len(items)), [_short(k, 30) for k, _ in items], fontsize=6)
            ax.invert_yaxis()
        else:
            ax.text(0.5, 0.5, "no missing values", ha="center", transform=ax.transAxes)
        ax.set_xlim(0, 1)
        ax.set_xlabel("missing rate")
        ax.set_title(f"{lab}: missing values", fontsize=10)
    return _save(fig, path)


def plot_profile(values: list[dict[str, list[float]]], labels: list[str], scores: dict, path: Path) -> Path:
    """Empirical CDFs of each metric family for two databases, titled with 1 - KS."""
    keys = list(values[0])
    nc = 3
    nr = math.ceil(len(keys) / nc)
    fig = _figure(4.0 * nc, 2.6 * nr)
    for i, k in enumerate(keys):
        ax = fig.add_subplot(nr, nc, i + 1)
        for j, (v, lab) in enumerate(zip(values, labels)):
            a = np.sort(np.asarray(v.get(k, []), np.float64))
            if len(a):
                ax.step(a, np.arange(1, len(a) + 1) / len(a), where="post", color=COLORS[j % 2], label=lab)
        s = scores.get(k)
        ax.set_title(f"{k} (1-KS {s:.2f})" if s is not None else k, fontsize=8)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    return _save(fig, path, grid=True)


def plot_corpus(rows: list[dict], path: Path) -> Path:
    """Histograms over a corpus: tables, rows, columns, median log10 dispersion, lag-1, missing rate,
    plus the column-type mix."""
    fields = [("n_tables", "tables per database", False), ("n_rows", "rows per database", True),
              ("n_columns", "columns per database", False), ("n_fkeys", "foreign keys per database", False),
              ("log10_dispersion_median", "median log10 link dispersion", False),
              ("lag1_median", "median lag-1 autocorrelation", False),
              ("missing_mean_rate", "mean missing rate", False)]
    fig = _figure(13, 7.2)
    for i, (k, title, logx) in enumerate(fields):
        ax = fig.add_subplot(2, 4, i + 1)
        v = np.asarray([r[k] for r in rows if r.get(k) is not None], np.float64)
        v = v[np.isfinite(v)]
        if len(v):
            if logx and (v > 0).all():
                ax.hist(np.log10(v), bins=min(30, max(5, len(v))), color=COLORS[0])
                title += " (log10)"
            else:
                ax.hist(v, bins=min(30, max(5, len(v))), color=COLORS[0])
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
    ax = fig.add_subplot(2, 4, 8)
    tot: dict[str, int] = {}
    for r in rows:
        for t, n in (r.get("stype_counts") or {}).items():
            tot[t] = tot.get(t, 0) + n
    if tot:
        ax.bar(range(len(tot)), list(tot.values()), color=COLORS[1])
        ax.set_xticks(range(len(tot)), list(tot), fontsize=7, rotation=30)
    ax.set_title("column types (all databases)", fontsize=9)
    return _save(fig, path, grid=True)
