"""Synthetic forecast tasks: RelBench-style task tables derived from a (synthetic) database.

The paper's pretraining objective covers masked cells of ordinary tables *and* masked labels of
future-looking task tables. This module makes the second kind for any database with timed
activity tables, with the semantics of the real tasks in ``relforge.realdata.tasks``:

- an **entity** table ``E`` and a timed **activity** table ``A`` with a foreign key to ``E``;
- cut-off timestamps ``t`` by RelBench's rule (:func:`relforge.realdata.tasks.split_timestamps`:
  train steps back from the database's ``val_timestamp`` by the horizon ``h``, val/test step
  forward from ``val_timestamp`` / ``test_timestamp``), the train split capped at its most recent
  ``max_train_cutoffs`` cut-offs;
- one row per (cut-off, entity) with a label computed from ``A``'s rows of that entity in the
  window ``(t, t + h]`` only:

  ========  ================================================  ====================================
  kind      rows (as of ``t``)                                label over ``(t, t + h]``
  ========  ================================================  ====================================
  churn     entities with an event in ``(t - lookback, t]``   1 if no event (Chinook, MovieLens)
  any       entities with an event in the window              1 if any event has the flag set, or
                                                              a number above a threshold (F1 dnf,
                                                              top3)
  count     entities with an event in ``(t - lookback, t]``   number of events
  sum       entities with an event in ``(t - lookback, t]``   sum of a number column, 0 if none
                                                              (Chinook spend)
  mean      entities with a value in the window               mean of a number column (F1
                                                              position, MovieLens mean rating)
  ========  ================================================  ====================================

  Row sets use only rows up to ``t`` (churn, count, sum) or the window itself, as the real tasks
  do; labels use only the window. The ``any`` threshold is a quantile of the column over rows
  before ``val_timestamp``.

The tasks are :class:`relforge.db.task.Task` objects, so they are tokenized exactly as real task
tables are (``relforge.tokenize.cells.tokenize_database(db, tasks)``) and sampled with the same
leak-free context rule (a task row's context holds rows up to its cut-off; other rows of the same
task only once their window has closed).

Which tasks a database gets is drawn from ``child(seed, "forecast-tasks")``, kinds round-robin,
candidates of a kind in a weighted random order: a column task (any, sum, mean) by
``(0.05 + entity effect) ** entity_signal`` (the adjusted share of the column's variance between
entities), sum / mean tasks also by ``exp(-drift / drift_scale)`` (the column's level change),
both measured on rows before the validation cut-off only. Real tasks target quantities that
differ by entity and hold their level (F1 position, MovieLens rating); uniformly drawn synthetic
ones mostly did not, and taught a zero-shot model to ignore the entity's history or to expect a
drift (docs/results.md, prior benchmark, session 7). Labels are computed with numpy (sorted
event keys and prefix sums, no per-row Python), so the same database, seed and config give
identical task tables.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.task import Task, TaskKind, TaskType
from relforge.errors import RelforgeError
from relforge.realdata.tasks import split_timestamps, time_range
from relforge.rng import _key_to_int, child
from relforge.tokenize.celltypes import CellType, cell_type_of

KINDS = ("churn", "any", "count", "sum", "mean")
CLASSIFICATION_KINDS = ("churn", "any")


@dataclass(frozen=True)
class ForecastTaskConfig:
    """How many and which forecast tasks a database gets (see the module docstring)."""

    n_tasks: int = 4  # tasks per database (fewer when the database has fewer usable candidates)
    kinds: tuple = KINDS  # label kinds to draw from
    windows: tuple = (1, 4)  # the test period holds between 1 and 4 windows: h = span / k
    max_train_cutoffs: int = 24  # most recent train cut-offs kept (RelBench keeps all)
    n_eval_cutoffs: int = 8  # at most this many val / test cut-offs (RelBench: 40)
    lookback_windows: tuple = (2, 12)  # "active" = an event within this many windows before t (or ever)
    ever_active_prob: float = 0.3  # share of tasks whose rows are every entity with any event before t
    quantile: tuple = (0.2, 0.8)  # threshold quantile range of "any" tasks on number columns
    min_train_rows: int = 20  # a task needs this many train rows and both classes / a spread of labels
    entity_signal: float = 1.0  # column tasks are tried in an order weighted by (0.05 + entity effect) ** this; 0: uniform
    drift_scale: float = 0.25  # sum / mean tasks also by exp(-drift / this), drift in sd before val; 0: off
    min_persistence: float = 0.0  # regression tasks: least Pearson r2 of the entity's last 3 train labels with the next; 0: off

    def hash(self) -> str:
        """Short content hash of the settings (for cache keys)."""
        return hashlib.sha256(json.dumps(dataclasses.asdict(self), sort_keys=True, default=list).encode()).hexdigest()[:16]

    def validate(self) -> None:
        bad = [k for k in self.kinds if k not in KINDS]
        if bad or not self.kinds:
            raise RelforgeError(f"forecast task kinds must be a non-empty subset of {', '.join(KINDS)}, got {list(self.kinds)}")
        if self.n_tasks < 0 or self.max_train_cutoffs < 3 or self.n_eval_cutoffs < 1:
            raise RelforgeError("forecast tasks: need n_tasks >= 0, max_train_cutoffs >= 3, n_eval_cutoffs >= 1")
        lo, hi = self.windows
        if not 1 <= lo <= hi:
            raise RelforgeError(f"forecast tasks: windows must be 1 <= low <= high, got {self.windows}")
        lo, hi = self.lookback_windows
        if not 1 <= lo <= hi:
            raise RelforgeError(f"forecast tasks: lookback_windows must be 1 <= low <= high, got {self.lookback_windows}")
        if not 0 <= self.ever_active_prob <= 1 or not 0 < self.quantile[0] <= self.quantile[1] < 1:
            raise RelforgeError("forecast tasks: ever_active_prob in [0, 1], quantile range inside (0, 1)")
        if self.drift_scale < 0:
            raise RelforgeError(f"forecast tasks: drift_scale must be >= 0, got {self.drift_scale}")
        if not 0 <= self.min_persistence < 1:
            raise RelforgeError(f"forecast tasks: min_persistence must be in [0, 1), got {self.min_persistence}")
        if not 0 <= self.entity_signal <= 10:
            raise RelforgeError(f"forecast tasks: entity_signal must be in [0, 10], got {self.entity_signal}")

    def replace(self, **kw) -> "ForecastTaskConfig":
        return dataclasses.replace(self, **kw)


@dataclass(frozen=True)
class _Candidate:
    kind: str
    entity: str
    activity: str
    fkey: str
    column: str | None = None  # number or boolean column of the activity table (any / sum / mean)
    is_flag: bool = False  # "any" over a boolean column (else: number above a threshold)


class _Events:
    """The rows of one activity table grouped by entity, for window queries.

    Rows with a null key or time are left out. Each row gets the key
    ``entity * (R + 1) + time rank`` (``R`` distinct times), sorted once; a query "rows of entity e
    with time <= t" is then one ``searchsorted``, and sums over such a range come from prefix sums.
    """

    def __init__(self, ent: np.ndarray, time_ns: np.ndarray):
        ok = ent >= 0
        self.ent, self.time = ent[ok], time_ns[ok]
        self.keep = ok
        self.uniq = np.unique(self.time)
        self.R = len(self.uniq) + 1
        key = self.ent * self.R + np.searchsorted(self.uniq, self.time, "left") + 1
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]

    def upto(self, e: np.ndarray, t_ns: np.ndarray) -> np.ndarray:
        """Position (in sorted order) one past the last row of entity ``e`` with time <= ``t``."""
        q = np.searchsorted(self.uniq, t_ns, "right")
        return np.searchsorted(self.key, e * self.R + q, "right")

    def prefix(self, values: np.ndarray) -> np.ndarray:
        """Prefix sums (length n+1) of ``values`` (one per kept row) in sorted order; NaN counts 0."""
        v = np.nan_to_num(np.asarray(values, dtype=np.float64)[self.keep][self.order], nan=0.0)
        return np.concatenate([[0.0], np.cumsum(v)])


def _kind_of(t, col: str) -> str | None:
    ct = cell_type_of(t.stypes.get(col, "text"), t.df[col].dtype)
    return {CellType.number: "number", CellType.boolean: "boolean"}.get(ct)


def candidates(db: Database, kinds=KINDS) -> list[_Candidate]:
    """Every (kind, entity, activity, column) a forecast task can be built from, in schema order."""
    out = []
    for an, a in db.tables.items():
        if a.time_col is None:
            continue
        cols = [c for c in a.df.columns if c not in a.key_cols and c != a.time_col]
        typed = [(c, _kind_of(a, c)) for c in cols]
        for fk, en in a.fkey_col_to_pkey_table.items():
            e = db.tables.get(en)
            if en == an or e is None or e.pkey_col is None or len(e.df) == 0:
                continue
            for kind in kinds:
                if kind in ("churn", "count"):
                    out.append(_Candidate(kind, en, an, fk))
                    continue
                for c, ty in typed:
                    if ty == "number":
                        out.append(_Candidate(kind, en, an, fk, c, False))
                    elif ty == "boolean" and kind == "any":
                        out.append(_Candidate(kind, en, an, fk, c, True))
    return out


def _floats(s: pd.Series, is_flag: bool) -> np.ndarray:
    """A number or boolean column as float64, NaN where missing or not a number."""
    if is_flag:
        return s.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)


def _before_val(db: Database, a) -> np.ndarray:
    """Rows of activity table ``a`` timed before the database's validation cut-off (NaT: no)."""
    return (a.df[a.time_col] < db.val_timestamp).to_numpy(dtype=bool, na_value=False)


def entity_effect(db: Database, c: _Candidate) -> float:
    """Adjusted share of the variance of ``c.column`` that lies between entities (adjusted eta²,
    clipped to [0, 1]) over the activity rows **before the validation cut-off**, so no validation
    or test row informs which tasks are drawn. 0 for a candidate without a column."""
    if c.column is None:
        return 0.0
    a = db.tables[c.activity]
    early = _before_val(db, a)
    x = _floats(a.df[c.column][early], c.is_flag)
    code, _ = pd.factorize(a.df[c.fkey][early])
    ok = np.isfinite(x) & (code >= 0)
    x, code = x[ok], code[ok]
    n, k = len(x), (int(code.max()) + 1 if len(code) else 0)
    if n < 10 or k < 2 or n <= k:
        return 0.0
    sst = float(((x - x.mean()) ** 2).sum())
    if sst <= 0:
        return 0.0
    cnt = np.bincount(code, minlength=k)
    mean = np.bincount(code, weights=x, minlength=k) / np.maximum(cnt, 1)
    ssw = float(((x - mean[code]) ** 2).sum())
    k_used = int((cnt > 0).sum())
    return float(np.clip(1.0 - (ssw / (n - k_used)) / (sst / (n - 1)), 0.0, 1.0))


def column_drift(db: Database, c: _Candidate) -> float:
    """How far ``c.column`` moved before the validation cut-off: |mean of the later half of its
    rows - mean of the earlier half| in standard deviations (rows before ``val_timestamp`` only).
    0 for a candidate without a column."""
    if c.column is None:
        return 0.0
    a = db.tables[c.activity]
    early = _before_val(db, a)
    x = _floats(a.df[c.column][early], False)
    t = a.df[a.time_col][early].astype("datetime64[ns]").to_numpy().view(np.int64)
    ok = np.isfinite(x)
    x, t = x[ok], t[ok]
    if len(x) < 10 or not np.std(x) > 0:
        return 0.0
    x = x[np.argsort(t, kind="stable")]
    h = len(x) // 2
    return float(abs(x[h:].mean() - x[:h].mean()) / np.std(x))


def _label_name(c: _Candidate) -> str:
    return {"churn": "churn", "count": f"num_{c.activity}", "any": f"any_{c.column}",
            "sum": f"total_{c.column}", "mean": f"mean_{c.column}"}[c.kind]


def _frames(db: Database, c: _Candidate, horizon: pd.Timedelta, lookback: pd.Timedelta | None,
            threshold: float | None, cutoffs: dict[str, pd.DatetimeIndex]) -> dict[str, pd.DataFrame]:
    """The split frames (timestamp, entity key, label) of candidate ``c``; see the module table."""
    e, a = db.tables[c.entity], db.tables[c.activity]
    pk = e.df[e.pkey_col]
    pos = pd.Index(pk).get_indexer(a.df[c.fkey])  # entity row position of every activity row, -1 = none
    t_ns = a.df[a.time_col].astype("datetime64[ns]").to_numpy().view(np.int64)
    nat = np.iinfo(np.int64).min
    pos = np.where(t_ns == nat, -1, pos).astype(np.int64)
    ev = _Events(pos, t_ns)
    if c.column is not None:
        x = _floats(a.df[c.column], c.is_flag)
        has = np.isfinite(x)
        if c.kind == "any":
            hit = (x > 0.5) if c.is_flag else (x > threshold)
            cs_val, cs_n = ev.prefix(np.where(has, hit, 0.0)), ev.prefix(has)
        else:
            cs_val, cs_n = ev.prefix(np.where(has, x, 0.0)), ev.prefix(has)
    n_ent = len(pk)
    h = np.int64(horizon.value)
    out = {}
    for split, ts in cutoffs.items():
        tt = np.repeat(ts.asi8.astype(np.int64), n_ent)
        ee = np.tile(np.arange(n_ent, dtype=np.int64), len(ts))
        i_t, i_h = ev.upto(ee, tt), ev.upto(ee, tt + h)
        n_win = i_h - i_t
        if lookback is None:
            active = i_t - np.searchsorted(ev.key, ee * ev.R, "right") > 0  # any row of e up to t
        else:
            active = i_t - ev.upto(ee, tt - np.int64(lookback.value)) > 0
        if c.kind == "churn":
            keep, y = active, (n_win == 0).astype(np.int64)
        elif c.kind == "count":
            keep, y = active, n_win.astype(np.float64)
        elif c.kind == "sum":
            keep, y = active, cs_val[i_h] - cs_val[i_t]
        elif c.kind == "mean":
            n_val = cs_n[i_h] - cs_n[i_t]
            keep = n_val > 0
            y = (cs_val[i_h] - cs_val[i_t]) / np.maximum(n_val, 1)
        else:  # any
            n_val = cs_n[i_h] - cs_n[i_t]
            keep, y = n_val > 0, ((cs_val[i_h] - cs_val[i_t]) > 0).astype(np.int64)
        out[split] = pd.DataFrame({"timestamp": pd.to_datetime(tt[keep]).astype("datetime64[ns]"),
                                   e.pkey_col: pk.to_numpy()[ee[keep]].astype(np.int64),
                                   _label_name(c): y[keep]})
    return out


def _cutoffs(db: Database, horizon: pd.Timedelta, cfg: ForecastTaskConfig) -> dict[str, pd.DatetimeIndex] | None:
    try:
        cut = {s: split_timestamps(db, horizon, s, cfg.n_eval_cutoffs) for s in ("train", "val", "test")}
    except RelforgeError:
        return None
    cut["train"] = cut["train"][: cfg.max_train_cutoffs]  # the most recent ones (split_timestamps steps back)
    return cut if all(len(v) for v in cut.values()) else None


def _usable(frames: dict[str, pd.DataFrame], col: str, clf: bool, cfg: ForecastTaskConfig) -> bool:
    tr = frames["train"][col].to_numpy(dtype=np.float64)
    if len(tr) < cfg.min_train_rows or len(frames["test"]) == 0:
        return False
    if clf:
        m = tr.mean()
        return 0.02 <= m <= 0.98
    return float(np.std(tr)) > 1e-9 and len(np.unique(tr)) >= 3


def persistence(frame: pd.DataFrame, entity_col: str, label: str, k: int = 3) -> float:
    """Pearson r2 between each row's label and the mean of its entity's ``k`` previous labels (rows
    in time order; rows without a previous label left out): how much of the label an entity's label
    history tells, the skill every real regression forecast task rewards (F1 driver-position 0.58,
    MovieLens user-mean-rating 0.45 on the last 3 labels). 0 when fewer than 10 rows have a history
    or the correlation is negative (a history that points the wrong way teaches the opposite rule)."""
    ent = frame[entity_col].to_numpy()
    order = np.lexsort((frame["timestamp"].to_numpy(), ent))
    ent, y = ent[order], frame[label].to_numpy(np.float64)[order]
    idx = np.arange(len(y))
    start = np.maximum.accumulate(np.where(np.r_[True, ent[1:] != ent[:-1]], idx, 0)) if len(y) else idx
    n_prev = np.minimum(idx - start, k)
    c = np.r_[0.0, np.cumsum(y)]
    has = n_prev > 0
    if has.sum() < 10:
        return 0.0
    prev = (c[idx] - c[idx - n_prev])[has] / n_prev[has]
    if np.std(prev) < 1e-12 or np.std(y[has]) < 1e-12:
        return 0.0
    r = float(np.corrcoef(prev, y[has])[0, 1])
    return r * r if r > 0 else 0.0


def forecast_tasks(db: Database, seed: int, cfg: ForecastTaskConfig | None = None) -> list[Task]:
    """Up to ``cfg.n_tasks`` forecast tasks of ``db`` (see the module docstring), each a
    :class:`relforge.db.task.Task` with train/val/test frames; :func:`draw_forecast_tasks` also
    returns how each was defined."""
    return [t for t, _ in draw_forecast_tasks(db, seed, cfg)]


def draw_forecast_tasks(db: Database, seed: int, cfg: ForecastTaskConfig | None = None) -> list[tuple[Task, dict]]:
    """``(task, spec)`` pairs; ``spec`` holds the definition (kind, entity, activity, fkey, column,
    horizon, lookback, threshold) from which the frames were computed (:func:`task_frames`).

    Kinds are drawn round-robin in a seeded order so that a database's tasks differ in kind; a
    candidate whose frames are empty or whose train labels are (nearly) constant is passed over.
    Returns ``[]`` when the database has no timed activity table with a foreign key, no val/test
    timestamps, or no room for a window after its test timestamp.
    """
    cfg = cfg or ForecastTaskConfig()
    cfg.validate()
    if db.val_timestamp is None or db.test_timestamp is None or cfg.n_tasks == 0:
        return []
    cands = candidates(db, cfg.kinds)
    if not cands:
        return []
    rng = child(seed, "forecast-tasks")
    lo, hi = time_range(db)
    span = min(hi - db.test_timestamp, db.test_timestamp - db.val_timestamp)
    if span <= pd.Timedelta(seconds=1):
        return []
    # candidates in a weighted random order (exponential clocks: the smallest -log(u) / w goes
    # first): a column whose values differ between entities (a driver's position, a user's rating)
    # is tried before one that is noise around a common mean, as real tasks are chosen
    w = np.ones(len(cands))
    if cfg.entity_signal > 0:
        eff = {}
        for i, c in enumerate(cands):
            if c.column is not None:
                key = (c.activity, c.fkey, c.column, c.is_flag)
                if key not in eff:
                    eff[key] = entity_effect(db, c)
                w[i] = (0.05 + eff[key]) ** cfg.entity_signal
    if cfg.drift_scale > 0:  # and a level that holds still: real regression labels sit on their history
        drift = {}
        for i, c in enumerate(cands):
            if c.kind in ("sum", "mean"):
                key = (c.activity, c.column)
                if key not in drift:
                    drift[key] = column_drift(db, c)
                w[i] *= np.exp(-drift[key] / cfg.drift_scale)
    clock = -np.log(1.0 - rng.random(len(cands))) / w
    order = np.argsort(clock, kind="stable")
    by_kind = {k: [cands[i] for i in order if cands[i].kind == k] for k in cfg.kinds}
    kinds = [k for k in np.asarray(cfg.kinds)[rng.permutation(len(cfg.kinds))] if by_kind[k]]
    out, names, tried = [], set(), 0
    while len(out) < cfg.n_tasks and any(by_kind[k] for k in kinds):
        k = kinds[tried % len(kinds)]
        tried += 1
        if not by_kind[k]:
            continue
        c = by_kind[k].pop(0)
        r = child(seed, "forecast-task", c.kind, c.entity, c.activity, c.fkey, c.column or "")
        horizon = pd.Timedelta(seconds=int(span.total_seconds() / int(r.integers(cfg.windows[0], cfg.windows[1] + 1))))
        lookback = None if r.random() < cfg.ever_active_prob else horizon * int(
            r.integers(cfg.lookback_windows[0], cfg.lookback_windows[1] + 1))
        threshold = None
        if c.kind == "any" and not c.is_flag:
            a = db.tables[c.activity]
            vals = _floats(a.df[c.column][_before_val(db, a)], False)
            vals = vals[~np.isnan(vals)]
            if len(vals) == 0:
                continue
            threshold = float(np.quantile(vals, r.uniform(*cfg.quantile)))
        cut = _cutoffs(db, horizon, cfg)
        if cut is None:
            continue
        spec = dict(kind=c.kind, entity=c.entity, activity=c.activity, fkey=c.fkey, column=c.column,
                    is_flag=c.is_flag, horizon=horizon, lookback=lookback, threshold=threshold)
        frames = task_frames(db, spec, cut)
        label = _label_name(c)
        clf = c.kind in CLASSIFICATION_KINDS
        if not _usable(frames, label, clf, cfg):
            continue
        if (not clf and cfg.min_persistence > 0
                and persistence(frames["train"], db.tables[c.entity].pkey_col, label) < cfg.min_persistence):
            continue  # an entity's history tells little of this label: real regression tasks are not so
        name = f"{c.entity}-{label.replace('_', '-')}"
        if name in names:
            name = f"{c.entity}-{c.activity}-{label.replace('_', '-')}"
        if name in names:
            continue
        names.add(name)
        task = Task(name=name, kind=TaskKind.forecast, task_type=TaskType.binary_classification if clf else TaskType.regression,
                    target_col=label, entity_table=c.entity, entity_col=db.tables[c.entity].pkey_col,
                    time_col="timestamp", horizon=horizon, splits=frames)
        task.validate()
        out.append((task, spec))
    return out


def task_frames(db: Database, spec: dict, cutoffs: dict) -> dict[str, pd.DataFrame]:
    """Split frames of one task definition ``spec`` (keys as :func:`draw_forecast_tasks` returns)
    at the given cut-offs (``split -> timestamps``)."""
    c = _Candidate(spec["kind"], spec["entity"], spec["activity"], spec["fkey"], spec.get("column"),
                   bool(spec.get("is_flag", False)))
    lb = spec.get("lookback")
    cut = {s: pd.DatetimeIndex(pd.to_datetime(v)).astype("datetime64[ns]").sort_values() for s, v in cutoffs.items()}
    return _frames(db, c, pd.Timedelta(spec["horizon"]), None if lb is None else pd.Timedelta(lb),
                   spec.get("threshold"), cut)


def seed_of(db: Database) -> int:
    """The seed a database's synthetic tasks are drawn with: its generator seed when recorded,
    else a hash of its name."""
    s = db.meta.get("seed") if isinstance(db.meta, dict) else None
    return int(s) if isinstance(s, (int, np.integer)) else _key_to_int(db.name) % (2**62)


def task_maker(n_tasks: int, cfg: ForecastTaskConfig | None = None):
    """``db -> tasks``: up to ``n_tasks`` synthetic forecast tasks of a database, seeded by
    :func:`seed_of` (the hook ``relforge tokenize --forecast-tasks`` hands to the tokenizer)."""
    c = (cfg or ForecastTaskConfig()).replace(n_tasks=int(n_tasks))
    c.validate()
    return lambda db: forecast_tasks(db, seed_of(db), c)


def describe(task: Task) -> dict:
    """A short record of a task (for manifests and logs)."""
    return dict(name=task.name, task_type=task.task_type, entity_table=task.entity_table, target_col=task.target_col,
                horizon_s=int(pd.Timedelta(task.horizon).total_seconds()),
                rows={s: int(len(f)) for s, f in task.splits.items()},
                label_mean=float(task.splits["train"][task.target_col].mean()))
