"""Learnability probe: how well can a masked cell be predicted from what a relational model sees?

For each *autocomplete task* of a database (one target column of one table: numerical -> R2,
boolean / categorical -> AUROC, binary or macro one-vs-rest), a cross-validated LightGBM predicts
the cell from four growing feature sets:

- **a** the row's other columns (features and the row time; keys excluded);
- **b** + the columns of the row's parent rows (one hop over every foreign key);
- **c** + aggregates of the row's child rows (per child table: count, means of numeric / boolean
  columns, first and last child time);
- **d** + sibling rows (rows of the same table sharing a parent): per foreign key the number of
  siblings and the **out-of-fold** mean of the target over them.

Sibling target means are computed leak-free: for a test row, from the rows that are not in the
test fold (the unsampled rows of a large table included: their cells are context, never scored);
for a training row, from an inner K-fold split of those rows, so no row ever sees its own target
(a leave-one-out mean leaks: ``(S - y) / (n - 1)`` encodes ``y`` once the group is known).

Scores: R2 for regression, AUROC for classification. Summaries put both on one chance-0 scale:
``skill`` = R2 for regression, ``2 AUROC - 1`` (Gini) for classification. Per database the probe
reports the median skill of (d) ("overall predictability") and the median of (d) - (a)
("relational lift").

Rows are capped per table (``max_rows``, a seeded sample) and tasks per database (``max_tasks``,
round-robin over tables), so one database takes well under a minute on one core. Everything is
deterministic per ``seed``. Needs ``lightgbm`` (the ``baselines`` extra).

>>> from relforge.report.learnability import learnability          # doctest: +SKIP
>>> res = learnability(relforge.synthesize(0)); res["summary"]        # doctest: +SKIP

Command line (prints a side-by-side table, last line JSON)::

    python -m relforge.report.learnability --real f1 chinook movielens --relforge 8 --plurel DIR
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.io import load_database
from relforge.db.table import Stype, Table
from relforge.errors import RelforgeError
from relforge.metrics import r2, roc_auc
from relforge.report.metrics import as_codes

__all__ = ["learnability", "ProbeConfig", "sibling_oof_means", "summarize", "format_table"]

SETS = ("a", "b", "c", "d")


@dataclass(frozen=True)
class ProbeConfig:
    max_rows: int = 3000  # sampled rows per target table
    max_tasks: int = 20  # tasks per database (round-robin over tables)
    folds: int = 3  # outer cross-validation folds
    inner_folds: int = 3  # folds of the sibling target encoding of training rows
    min_rows: int = 100  # tables (or non-missing targets) with fewer rows are skipped
    max_classes: int = 6  # categorical targets: top classes, the rest merged
    max_child_tables: int = 4
    max_child_cols: int = 6
    max_levels: int = 32  # categorical features: codes of the most common levels
    n_estimators: int = 50
    max_bin: int = 63
    num_leaves: int = 15
    learning_rate: float = 0.15


# ---------------------------------------------------------------- encodings


def _num(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        v = s.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(np.float64) / 86400e9
        v[s.isna().to_numpy()] = np.nan
        return v
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _feature(t: Table, c: str, max_levels: int) -> np.ndarray | None:
    """A float feature of column ``c`` (codes for categoricals, NaN = missing); None for text."""
    st = t.stypes.get(c)
    s = t.df[c]
    if st in (Stype.numerical, Stype.datetime, Stype.boolean):
        return _num(s.astype("Int8") if st == Stype.boolean and s.dtype == object else s)
    if st == Stype.categorical:
        v = as_codes(s, max_levels).astype(np.float64)
        v[v < 0] = np.nan
        return v
    return None


def _row_features(t: Table, exclude: str | None, max_levels: int) -> dict[str, np.ndarray]:
    out = {}
    for c in t.feature_cols:
        if c == exclude:
            continue
        v = _feature(t, c, max_levels)
        if v is not None:
            out[c] = v
    if t.time_col:
        out["__time"] = _num(t.df[t.time_col])
    return out


def _positions(db: Database, t: Table, fk: str) -> np.ndarray:
    """Row positions in the parent table of every row's foreign key (-1 = null / dangling)."""
    p = db.tables[t.fkey_col_to_pkey_table[fk]]
    pk = pd.Index(p.df[p.pkey_col].to_numpy())
    vals = t.df[fk]
    pos = np.full(len(vals), -1, dtype=np.int64)
    ok = vals.notna().to_numpy()
    if ok.any():
        v = vals[ok].to_numpy()
        try:
            v = v.astype(pk.dtype)
        except (TypeError, ValueError):
            pass
        pos[ok] = pk.get_indexer(v)
    return pos


def _gather(x: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out = np.full(len(pos), np.nan)
    ok = pos >= 0
    out[ok] = x[pos[ok]]
    return out


def _fks(t: Table, name: str) -> list[str]:
    """Non-self foreign keys of ``t``."""
    return [c for c, p in t.fkey_col_to_pkey_table.items() if p != name]


def _children(db: Database, name: str, cap: int) -> list[tuple[str, str]]:
    return [(ch, c) for ch, ct in db.tables.items() for c, p in ct.fkey_col_to_pkey_table.items()
            if p == name and ch != name][:cap]


def _child_aggregates(db: Database, name: str, cfg: ProbeConfig) -> dict[str, np.ndarray]:
    """Per row of table ``name``: child counts, child column means, first / last child time."""
    n = len(db.tables[name])
    out = {}
    for ch, fk in _children(db, name, cfg.max_child_tables):
        ct = db.tables[ch]
        pos = _positions(db, ct, fk)
        ok = pos >= 0
        p = pos[ok]
        cnt = np.bincount(p, minlength=n).astype(np.float64)
        pre = f"{ch}.{fk}."
        out[pre + "count"] = cnt
        k = 0
        for c in ct.feature_cols:
            if k >= cfg.max_child_cols:
                break
            if ct.stypes.get(c) not in (Stype.numerical, Stype.boolean):
                continue
            v = _num(ct.df[c])[ok]
            f = np.isfinite(v)
            s = np.bincount(p[f], weights=v[f], minlength=n)
            m = np.bincount(p[f], minlength=n)
            out[pre + "mean." + c] = np.where(m > 0, s / np.maximum(m, 1), np.nan)
            k += 1
        if ct.time_col:
            tt = _num(ct.df[ct.time_col])[ok]
            f = np.isfinite(tt)
            last = np.full(n, -np.inf)
            np.maximum.at(last, p[f], tt[f])
            first = np.full(n, np.inf)
            np.minimum.at(first, p[f], tt[f])
            out[pre + "last_time"] = np.where(np.isfinite(last), last, np.nan)
            out[pre + "first_time"] = np.where(np.isfinite(first), first, np.nan)
    return out


def sibling_oof_means(group: np.ndarray, y: np.ndarray, known: np.ndarray, fold: np.ndarray,
                      n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold sibling means of ``y`` (``(n, k)``, one column per target dim).

    Parameters
    ----------
    group : (n,) group (parent) index of every row, -1 = none.
    y : (n, k) targets (NaN = missing, never counted).
    known : (n,) rows whose targets may be read (the rows outside the test fold).
    fold : (n,) inner fold of every known row (ignored elsewhere).
    n_groups : number of groups.

    Returns
    -------
    ``(mean, count)``: for a row outside ``known`` (a test row) the mean over all known rows of its
    group; for a known row the mean over known rows of its group in *other* inner folds. NaN where
    there is none. A row's own target never enters its own mean.
    """
    n, k = y.shape
    folds = int(fold[known].max()) + 1 if known.any() else 1
    g_ok = group >= 0
    fin = np.isfinite(y)
    use = known[:, None] & g_ok[:, None] & fin
    gi = np.where(g_ok, group, 0)
    idx = gi * folds + np.where(known, fold, 0)
    s = np.zeros((n_groups * folds, k))
    m = np.zeros((n_groups * folds, k))
    for j in range(k):
        u = use[:, j]
        s[:, j] = np.bincount(idx[u], weights=y[u, j], minlength=n_groups * folds)
        m[:, j] = np.bincount(idx[u], minlength=n_groups * folds)
    s_g = s.reshape(n_groups, folds, k).sum(1)
    m_g = m.reshape(n_groups, folds, k).sum(1)
    tot_s, tot_m = s_g[gi], m_g[gi]
    own_s, own_m = s[idx], m[idx]
    kn = known[:, None]
    ss = np.where(kn, tot_s - own_s, tot_s)
    mm = np.where(kn, tot_m - own_m, tot_m)
    mean = np.where(mm > 0, ss / np.maximum(mm, 1), np.nan)
    mean[~g_ok] = np.nan
    return mean, np.where(g_ok[:, None], mm, 0)


# ---------------------------------------------------------------- tasks


def _tasks(db: Database, cfg: ProbeConfig, rng: np.random.Generator) -> list[tuple[str, str, str]]:
    """(table, column, kind) with kind in {"reg", "bin", "multi"}, round-robin over tables."""
    per_table = []
    for name in sorted(db.tables):
        t = db.tables[name]
        if len(t) < cfg.min_rows:
            continue
        cand = []
        for c in t.feature_cols:
            st = t.stypes.get(c)
            s = t.df[c]
            nn = int(s.notna().sum())
            if nn < cfg.min_rows:
                continue
            if st == Stype.numerical:
                v = _num(s)
                v = v[np.isfinite(v)]
                nu = len(np.unique(v[: 20000]))
                if nu < 2:
                    continue
                if nu == 2:
                    u = np.unique(v)
                    cnt = min((v == u[0]).sum(), (v == u[1]).sum())
                    if cnt >= 20:
                        cand.append((name, c, "bin"))
                    continue
                cand.append((name, c, "reg"))
            elif st in (Stype.boolean, Stype.categorical):
                codes = as_codes(s, cfg.max_classes)
                cnt = np.bincount(codes[codes >= 0]) if (codes >= 0).any() else np.zeros(0)
                if (cnt >= 20).sum() < 2:
                    continue
                cand.append((name, c, "bin" if len(cnt) == 2 else "multi"))
        if cand:
            per_table.append([cand[i] for i in rng.permutation(len(cand))])
    out = []
    while len(out) < cfg.max_tasks and any(per_table):
        for lst in per_table:
            if lst and len(out) < cfg.max_tasks:
                out.append(lst.pop(0))
    return out


def _target(t: Table, c: str, kind: str, cfg: ProbeConfig) -> tuple[np.ndarray, int]:
    """(y, n_classes): floats for "reg" (NaN missing), codes for classification (-1 missing)."""
    s = t.df[c]
    if kind == "reg":
        return _num(s), 0
    if t.stypes.get(c) == Stype.numerical:  # a 2-valued number
        v = _num(s)
        u = np.unique(v[np.isfinite(v)])
        y = np.where(np.isfinite(v), (v == u[-1]).astype(np.int64), -1)
        return y, 2
    codes = as_codes(s, cfg.max_classes)
    # drop classes with < 20 rows (merged into missing): AUROC per class needs both sides
    cnt = np.bincount(codes[codes >= 0])
    keep = cnt >= 20
    remap = np.cumsum(keep) - 1
    y = np.where(codes >= 0, np.where(keep[np.maximum(codes, 0)], remap[np.maximum(codes, 0)], -1), -1)
    return y, int(keep.sum())


def _lgbm(kind: str, k: int, cfg: ProbeConfig, seed: int):
    import lightgbm as lgb

    kw = dict(n_estimators=cfg.n_estimators, num_leaves=cfg.num_leaves, learning_rate=cfg.learning_rate,
              min_child_samples=20, reg_lambda=1.0, subsample=1.0, colsample_bytree=0.5, max_bin=cfg.max_bin, random_state=seed, n_jobs=1,
              verbose=-1, deterministic=True, force_row_wise=True)
    if kind == "reg":
        return lgb.LGBMRegressor(**kw)
    return lgb.LGBMClassifier(objective="binary" if k == 2 else "multiclass", **kw)


def _score(kind: str, y: np.ndarray, pred: np.ndarray, k: int) -> float:
    if kind == "reg":
        return r2(y, pred)
    if k == 2:
        return roc_auc(y == 1, pred[:, -1] if pred.ndim == 2 else pred)
    aucs = [roc_auc(y == j, pred[:, j]) for j in range(k)]
    aucs = [a for a in aucs if a == a]
    return float(np.mean(aucs)) if aucs else float("nan")


def skill(kind: str, score: float) -> float:
    """Chance-0 scale: R2 for regression, 2 AUROC - 1 for classification."""
    if score is None or score != score:
        return float("nan")
    return score if kind == "reg" else 2.0 * score - 1.0


def _probe_task(db: Database, name: str, col: str, kind: str, cfg: ProbeConfig, seed: int,
                cache: dict) -> dict | None:
    t = db.tables[name]
    y_all, k = _target(t, col, kind, cfg)
    valid = np.isfinite(y_all) if kind == "reg" else y_all >= 0
    if k == 1 or valid.sum() < cfg.min_rows:
        return None
    kind = "reg" if kind == "reg" else ("bin" if k == 2 else "multi")
    rng = np.random.default_rng([seed, len(t), len(col), sum(map(ord, name + "." + col))])
    cand = np.flatnonzero(valid)
    rows = np.sort(rng.choice(cand, min(len(cand), cfg.max_rows), replace=False))
    n_all = len(t)

    # feature blocks on the whole table, then taken at the sampled rows
    key = ("row", name)
    if key not in cache:
        cache[key] = _row_features(t, None, cfg.max_levels)
    fa = {c: v for c, v in cache[key].items() if c != col}
    fb = {}
    for fk in _fks(t, name):
        pk = ("pos", name, fk)
        if pk not in cache:
            cache[pk] = _positions(db, t, fk)
        pos = cache[pk]
        pname = t.fkey_col_to_pkey_table[fk]
        rk = ("row", pname)
        if rk not in cache:
            cache[rk] = _row_features(db.tables[pname], None, cfg.max_levels)
        for c, v in cache[rk].items():
            fb[f"{fk}>{c}"] = _gather(v, pos)
    ck = ("child", name)
    if ck not in cache:
        cache[ck] = _child_aggregates(db, name, cfg)
    fc = cache[ck]

    def mat(blocks) -> np.ndarray:
        cols = [v[rows] for b in blocks for v in b.values()]
        return np.stack(cols, 1) if cols else np.zeros((len(rows), 0))

    xa, xb, xc = mat([fa]), mat([fb]), mat([fc])
    # targets as (n_all, dims) for the sibling encoding
    if kind == "reg":
        ydims = y_all[:, None].astype(np.float64)
    elif kind == "bin":
        ydims = np.where(y_all >= 0, (y_all == 1).astype(np.float64), np.nan)[:, None]
    else:
        ydims = np.where(y_all[:, None] >= 0, (y_all[:, None] == np.arange(k)[None, :]).astype(np.float64), np.nan)
    y = y_all[rows]
    fold = rng.permutation(len(rows)) % cfg.folds
    inner = rng.integers(0, cfg.inner_folds, n_all)
    fks = [fk for fk in _fks(t, name)]
    preds = {s: (np.zeros(len(rows)) if (kind != "multi") else np.zeros((len(rows), k))) for s in SETS}
    for f in range(cfg.folds):
        te, tr = fold == f, fold != f
        known = np.ones(n_all, dtype=bool)
        known[rows[te]] = False
        sib = []
        for fk in fks:
            pos = cache[("pos", name, fk)]
            n_groups = len(db.tables[t.fkey_col_to_pkey_table[fk]])
            mean, cnt = sibling_oof_means(pos, ydims, known, inner, n_groups)
            sib.append(mean[rows])
            sib.append(cnt[rows][:, :1])
        xd = np.concatenate(sib, 1) if sib else np.zeros((len(rows), 0))
        sets = dict(a=xa, b=np.hstack([xa, xb]), c=np.hstack([xa, xb, xc]), d=np.hstack([xa, xb, xc, xd]))
        for s in SETS:
            x = sets[s]
            if x.shape[1] == 0:  # no feature at all: the training mean / base rates
                if kind == "reg":
                    p = np.full(te.sum(), float(np.mean(y[tr])))
                else:
                    base = np.bincount(y[tr], minlength=k) / max(tr.sum(), 1)
                    p = np.tile(base, (te.sum(), 1)) if kind == "multi" else np.full(te.sum(), base[-1])
            else:
                m = _lgbm(kind, k, cfg, seed)
                m.fit(x[tr], y[tr])
                p = m.predict(x[te]) if kind == "reg" else m.predict_proba(x[te])
                if kind == "bin":
                    p = p[:, -1]
            preds[s][te] = p
    scores = {s: _score(kind, y, preds[s], k) for s in SETS}
    return dict(table=name, column=col, kind=kind, metric="r2" if kind == "reg" else "auroc", rows=int(len(rows)),
                classes=k, **{s: _r(scores[s]) for s in SETS},
                n_features=dict(a=xa.shape[1], b=xb.shape[1], c=xc.shape[1], d=len(fks) * (ydims.shape[1] + 1)))


def _r(x):
    return None if x is None or x != x else round(float(x), 4)


def learnability(db: Database, *, seed: int = 0, config: ProbeConfig | None = None, **overrides) -> dict:
    """Run the probe on ``db``: ``{"name", "tasks": [...], "summary": {...}, "seconds"}``.

    Each task record: table, column, kind (reg / bin / multi), metric (r2 / auroc), rows, and the
    scores of feature sets ``a``..``d`` (module docstring). ``overrides`` replace
    :class:`ProbeConfig` fields (e.g. ``max_rows=2000``).
    """
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        raise RelforgeError("the learnability probe needs lightgbm (pip install 'relforge[baselines]')") from None
    cfg = config or ProbeConfig()
    if overrides:
        import dataclasses

        cfg = dataclasses.replace(cfg, **overrides)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    cache: dict = {}
    tasks = []
    for name, col, kind in _tasks(db, cfg, rng):
        rec = _probe_task(db, name, col, kind, cfg, seed, cache)
        if rec is not None:
            tasks.append(rec)
    return dict(name=db.name, tasks=tasks, summary=summarize(tasks), seconds=round(time.perf_counter() - t0, 2))


def summarize(tasks: list[dict]) -> dict:
    """Medians over tasks of skill (R2 / 2 AUROC - 1) per feature set, and of the lifts."""
    out = dict(tasks=len(tasks))
    if not tasks:
        return out
    sk = {s: np.array([skill("reg" if t["kind"] == "reg" else "cls", t[s] if t[s] is not None else float("nan"))
                       for t in tasks]) for s in SETS}
    for s in SETS:
        out[f"skill_{s}"] = _med(sk[s])
    out["lift_b"] = _med(sk["b"] - sk["a"])
    out["lift_c"] = _med(sk["c"] - sk["b"])
    out["lift_d_sib"] = _med(sk["d"] - sk["c"])
    out["lift"] = _med(sk["d"] - sk["a"])  # relational lift
    out["predictability"] = out["skill_d"]
    reg = [t for t in tasks if t["kind"] == "reg"]
    cls = [t for t in tasks if t["kind"] != "reg"]
    out["r2_d"] = _med(np.array([t["d"] for t in reg], dtype=float)) if reg else None
    out["auroc_d"] = _med(np.array([t["d"] for t in cls], dtype=float)) if cls else None
    out["n_reg"], out["n_cls"] = len(reg), len(cls)
    return out


def _med(x: np.ndarray):
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return round(float(np.median(x)), 4) if len(x) else None


def format_table(rows: list[dict]) -> str:
    """A plain-text table of summaries: one row per database (``{"group", "name", "summary"}``) plus
    a median row per group."""
    hdr = ("group", "database", "tasks", "a", "b", "c", "d", "lift d-a", "sib d-c", "R2(d)", "AUROC(d)", "s")
    lines = []
    fmt = "{:<12} {:<22} {:>5} {:>6} {:>6} {:>6} {:>6} {:>8} {:>7} {:>6} {:>8} {:>5}"
    lines.append(fmt.format(*hdr))

    def f(x):
        return "-" if x is None else f"{x:.3f}"

    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
        s = r["summary"]
        lines.append(fmt.format(r["group"], r["name"][:22], s.get("tasks", 0), f(s.get("skill_a")), f(s.get("skill_b")),
                                f(s.get("skill_c")), f(s.get("skill_d")), f(s.get("lift")), f(s.get("lift_d_sib")),
                                f(s.get("r2_d")), f(s.get("auroc_d")), f"{r.get('seconds', 0):.0f}"))
    for g, rs in groups.items():
        med = {k: _med(np.array([r["summary"].get(k) for r in rs if r["summary"].get(k) is not None], dtype=float))
               for k in ("skill_a", "skill_b", "skill_c", "skill_d", "lift", "lift_d_sib", "r2_d", "auroc_d")}
        lines.append(fmt.format(g, "MEDIAN of DBs", sum(r["summary"].get("tasks", 0) for r in rs), f(med["skill_a"]),
                                f(med["skill_b"]), f(med["skill_c"]), f(med["skill_d"]), f(med["lift"]),
                                f(med["lift_d_sib"]), f(med["r2_d"]), f(med["auroc_d"]), ""))
    return "\n".join(lines)


def pooled(rows: list[dict]) -> dict:
    """Per group: median over databases of predictability and lift, and their range."""
    out = {}
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    for g, rs in groups.items():
        pr = [r["summary"].get("predictability") for r in rs if r["summary"].get("predictability") is not None]
        li = [r["summary"].get("lift") for r in rs if r["summary"].get("lift") is not None]
        out[g] = dict(dbs=len(rs), predictability=_med(np.array(pr)), lift=_med(np.array(li)),
                      predictability_range=[min(pr), max(pr)] if pr else None,
                      lift_range=[min(li), max(li)] if li else None)
    return out


# ---------------------------------------------------------------- command line


def main(argv=None) -> int:
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m relforge.report.learnability",
                                 description="learnability probe: real, relforge and plurel databases side by side")
    ap.add_argument("--real", nargs="*", default=None, help="real databases (default with no value: all)")
    ap.add_argument("--relforge", type=int, default=0, help="number of relforge databases (seeds OFFSET..)")
    ap.add_argument("--offset", type=int, default=0, help="first relforge seed")
    ap.add_argument("--config", action="append", default=None,
                    help="generator config for the relforge databases: a preset (v1, v2) or TOML path; repeatable")
    ap.add_argument("--plurel", type=Path, default=None, help="folder of saved plurel databases (relbench layout)")
    ap.add_argument("--db", nargs="*", default=[], type=Path, help="other database folders")
    ap.add_argument("--max-rows", type=int, default=ProbeConfig.max_rows)
    ap.add_argument("--max-tasks", type=int, default=ProbeConfig.max_tasks)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write all task records here")
    a = ap.parse_args(argv)
    over = dict(max_rows=a.max_rows, max_tasks=a.max_tasks)
    rows: list[dict] = []

    def run(group: str, db: Database):
        res = learnability(db, seed=a.seed, **over)
        rows.append(dict(group=group, name=db.name, summary=res["summary"], seconds=res["seconds"], tasks=res["tasks"]))
        s = res["summary"]
        print(f"[{group}] {db.name}: {s.get('tasks', 0)} tasks, d {s.get('skill_d')}, lift {s.get('lift')} "
              f"({res['seconds']:.0f} s)", flush=True)

    try:
        if a.real is not None:
            from relforge import realdata

            for name in (a.real or realdata.list_databases()):
                run("real", realdata.load(name))
        if a.relforge:
            from relforge.generate.config import load_config
            from relforge.generate.pipeline import generate_database

            for spec in (a.config or [None]):
                cfg = load_config(spec)
                label = "relforge" if spec is None else f"rf:{Path(str(spec)).stem}"
                for s in range(a.offset, a.offset + a.relforge):
                    run(label, generate_database(s, cfg))
        if a.plurel is not None:
            for p in sorted(x for x in a.plurel.iterdir() if x.is_dir()):
                db = load_database(p)
                db.name = p.name
                run("plurel", db)
        for p in a.db:
            db = load_database(p)
            db.name = p.name
            run("db", db)
    except RelforgeError as e:
        print(f"error: {e}")
        return 2
    print(format_table(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    print(json.dumps(pooled(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
