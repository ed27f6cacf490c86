"""Predictions on a user's own database with a pretrained Relational Transformer.

Two forms (README "Predict on your own database"):

- **Autocomplete** (:func:`autocomplete`): fill a number/boolean column of one table for the rows
  where it is missing, or (``holdout_after``) for the rows after a timestamp, scored against the
  true values (AUROC for booleans, R2 for numbers).
- **Forecast** (:func:`forecast`, from a TOML task file, :func:`load_taskfile`): a SQL label query
  over a window ``(t, t + horizon]`` per (entity, cut-off ``t``), as the real-data tasks of
  ``relforge.realdata.tasks``. History cut-offs before the first prediction time become in-context
  examples (labels visible only once known: cut-off + horizon <= seed time); the rows to predict are
  masked targets.

Leakage guards: the rows to predict never show their true value (their target cell is a masked
placeholder; hidden cells of *other* rows are removed from every context); normalisation
statistics come from the period before the (first) prediction time only (``val_timestamp`` of the
tokenized copy), and the target column's statistics from known values only.

Checkpoints are read by ``relforge.model.checkpoint`` (weights, model config, text embedder, context
settings); a database is tokenized with the checkpoint's embedder and contexts are built with its
context settings. With no checkpoint the packaged default model is used.
"""
from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from relforge.errors import RelforgeError
from relforge.model import checkpoint as ckpt_io
from relforge.model.checkpoint import Checkpoint, check_embedder


# ------------------------------------------------------------------------------------ checkpoints

_EMBEDDERS: dict = {}


def embedder_for(spec: dict | str):
    """The embedder a checkpoint was trained with (cached per name: MiniLM loads once per process)."""
    from relforge.tokenize.embed import get_embedder

    name = spec["name"] if isinstance(spec, dict) else str(spec)
    if name not in _EMBEDDERS:
        _EMBEDDERS[name] = get_embedder(name)
    return _EMBEDDERS[name]


# ------------------------------------------------------------------------------------ inference

class torch_threads:
    """Context manager: torch CPU threads set to ``n`` (restored on exit). Small RT models gain little
    from more threads, and on shared cores extra threads spin and slow everything down."""

    def __init__(self, n: int):
        self.n = int(n)

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(max(1, self.n))
        return self

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)


def _blank_hidden(batch: dict, hidden_nodes: np.ndarray) -> None:
    """Remove, in place, target-column cells of hidden rows other than the seed's own masked target.

    The target column of sequence ``b`` is the column of its ``is_target`` token (``col_id`` is
    unique per (db, table, column) in a batch); cells of that column on rows whose store node is in
    ``hidden_nodes`` become padding.
    """
    if len(hidden_nodes) == 0:
        return
    tgt_col = np.where(batch["is_target"].any(1), np.argmax(batch["is_target"], axis=1), -1)
    B = len(tgt_col)
    tcol = np.array([batch["col_id"][b, tgt_col[b]] if tgt_col[b] >= 0 else -2 for b in range(B)])
    node = np.where(batch["node_idx"] >= 0,
                    np.take_along_axis(batch["row_node"], np.maximum(batch["node_idx"], 0).astype(np.int64), 1), -1)
    kill = (batch["col_id"] == tcol[:, None]) & ~batch["is_target"] & ~batch["is_padding"] & np.isin(node, hidden_nodes)
    if kill.any():
        batch["is_padding"][kill] = True
        batch["node_idx"][kill] = -1
        batch["f2p"][kill] = -1
        batch["col_id"][kill] = -1
        batch["table_id"][kill] = -1
        batch["value"][kill] = 0.0
        batch["text_id"][kill] = -1
        batch["sem_type"][kill] = 0


def predict_task(model, task, *, ctx_len: int = 1024, batch_size: int = 16, seed: int = 0,
                 hidden_nodes: np.ndarray | None = None, max_bfs_width: int = 128,
                 peers: int = 0, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Model outputs at the masked target of every seed of a resolved ``SamplerTask``.

    Returns ``(seed_nodes, outputs)`` in seed order: normalised values for regression, logits for
    binary classification. Contexts are deterministic (``seed``, no shuffling).
    """
    import torch

    from relforge.tokenize.dataset import to_torch
    from relforge.tokenize.sampler import ContextSampler, SamplerConfig

    sampler = ContextSampler([task], SamplerConfig(ctx_len=ctx_len, max_bfs_width=max_bfs_width,
                                                   batch_size=batch_size, seed=seed, shuffle=False, peers=peers))
    hidden = np.unique(np.asarray(hidden_nodes if hidden_nodes is not None else [], dtype=np.int64))
    nodes, outs = [], []
    model.eval()
    with torch.no_grad():
        for b in range(sampler.num_batches):
            nb = sampler.batch(b, 0)
            _blank_hidden(nb, hidden)
            n = nb["true_batch_size"]
            out, _ = model(to_torch(nb))
            out = out.float().numpy()
            pos = np.argmax(nb["is_target"], axis=1)
            has = nb["is_target"].any(1)
            if not has[:n].all():
                raise RelforgeError(f"task {task.name!r}: a context lost its target cell (ctx_len {ctx_len} too small?)")
            nodes.append(nb["seed_row"][:n])
            outs.append(out[np.arange(n), pos[:n]])
            if progress is not None:
                progress.update("predict", sum(map(len, nodes)), len(task.seeds), "contexts")
    if progress is not None:
        progress.done("predict", f"{sum(map(len, nodes)):,} contexts of <= {ctx_len} cells")
        lazy = task.store.arrays.get("text_emb")
        if hasattr(lazy, "summary"):
            progress.done("embed", lazy.summary())
    return np.concatenate(nodes), np.concatenate(outs)


def _denorm(task_type: str, out: np.ndarray, stats: dict) -> np.ndarray:
    if task_type == "binary_classification":
        return 1.0 / (1.0 + np.exp(-out.astype(np.float64)))
    return out.astype(np.float64) * float(stats["std"]) + float(stats["mean"])


def score(task_type: str, y_true, pred) -> dict:
    """AUROC for binary tasks, R2 (and MAE) for regression, on rows with a known truth."""
    from relforge.metrics import mae, r2, roc_auc

    y, p = np.asarray(y_true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(y)
    if not ok.any():
        return {}
    if task_type == "binary_classification":
        return {"roc_auc": roc_auc(y[ok] > 0, p[ok]), "n": int(ok.sum())}
    return {"r2": r2(y[ok], p[ok]), "mae": mae(y[ok], p[ok]), "n": int(ok.sum())}


# ------------------------------------------------------------------------------------ autocomplete

@dataclass
class Prediction:
    """Predictions (``frame``: keys, timestamp, ``prediction`` and, when known, ``true``) and metrics."""

    frame: pd.DataFrame
    metrics: dict
    task_type: str
    n_rows: int
    baselines: dict = field(default_factory=dict)  # relforge.predict_baselines records, when scored
    finetune: dict = field(default_factory=dict)  # FinetuneResult.to_dict(), when fine-tuned


def _task_type_of(table, col: str, table_name: str = "") -> str:
    from relforge.db.table import Stype

    st = table.stypes.get(col)
    s = table.df[col]
    if st == Stype.boolean or pd.api.types.is_bool_dtype(s.dtype):
        return "binary_classification"
    if st in (Stype.numerical,) or (st is None and pd.api.types.is_numeric_dtype(s.dtype)):
        return "regression"
    if st == Stype.categorical and pd.api.types.is_numeric_dtype(s.dtype):
        vals = set(pd.unique(s.dropna()))
        return "binary_classification" if vals <= {0, 1} else "regression"
    raise RelforgeError(f"column {col!r} of table {table_name!r} is {getattr(st, 'name', st)}; only number and "
                        "boolean columns can be predicted")


def _check_table(db, table: str):
    if table not in db.tables:
        raise RelforgeError(f"database {db.name!r} has no table {table!r} (tables: {', '.join(db.tables)})")
    return db.tables[table]


def autocomplete(db, table: str, target: str, *, checkpoint: str | Path | None = None, embedder: str | None = None,
                 holdout_after=None, ctx_len: int | None = None, batch_size: int = 16, seed: int = 0,
                 ckpt: Checkpoint | None = None, holdout_frac: float | None = None, finetune_steps: int = 0,
                 baselines: bool = False, progress=None) -> Prediction:
    """Fill ``table.target`` for rows where it is missing, or for rows after ``holdout_after`` (scored).

    Parameters
    ----------
    db : a :class:`relforge.db.Database` (``relforge.load`` reads SQLite, DuckDB and Parquet folders).
    table, target : the table and the number/boolean column to predict.
    checkpoint : a relforge RT safetensors file; the packaged default model when None.
    holdout_after : a timestamp; the table must be timed. Rows with time > it are predicted from the
        database as seen at each row's time, and compared with their true values.
    holdout_frac : instead of a time, a seeded random share of the rows with a known value is
        predicted and scored (any table, timed or not; their values are hidden from every context).
    finetune_steps : train the model that many steps on the labelled rows that are not predicted
        first (:func:`relforge.finetune.finetune`); 0 = zero-shot.
    baselines : when scored, also score the constant and LightGBM baselines on the same rows
        (:mod:`relforge.predict_baselines`; in ``Prediction.baselines``).
    progress : a :class:`relforge.progress.Progress` for stage lines (silent by default).
    """
    from relforge.progress import SILENT
    from relforge.db.database import Database
    from relforge.db.table import Table
    from relforge.tokenize.cells import tokenize_database
    from relforge.tokenize.stats import fit_boolean_stats, fit_number_stats
    from relforge.tokenize.tasks import SamplerTask, by_time

    ck = ckpt or ckpt_io.load(checkpoint)
    emb = check_embedder(ck, embedder)
    t = _check_table(db, table)
    if target not in t.df.columns:
        raise RelforgeError(f"table {table!r} has no column {target!r} (columns: {', '.join(map(str, t.df.columns))})")
    if target == t.pkey_col or target in t.fkey_col_to_pkey_table:
        raise RelforgeError(f"column {target!r} of table {table!r} is a key column; predict a feature column")
    if target == t.time_col:
        raise RelforgeError(f"column {target!r} is the time column of table {table!r}; predict a feature column")
    task_type = _task_type_of(t, target, table)
    df = t.df
    y = df[target]
    if task_type == "binary_classification":
        y_num = y.map(lambda v: np.nan if pd.isna(v) else float(bool(v))).astype(np.float64).to_numpy()
    else:
        y_num = pd.to_numeric(y, errors="coerce").astype(np.float64).to_numpy()
    times = None
    if t.time_col is not None:
        times = pd.to_datetime(df[t.time_col], errors="coerce")
    val_ts = db.val_timestamp
    prog = progress or SILENT
    if holdout_after is not None and holdout_frac is not None:
        raise RelforgeError("give --holdout-after or --holdout-frac, not both")
    if holdout_frac is not None:
        if not 0 < float(holdout_frac) < 1:
            raise RelforgeError(f"--holdout-frac must be between 0 and 1, got {holdout_frac!r}")
        from relforge.rng import child

        lab = np.flatnonzero(np.isfinite(y_num))
        k = int(round(float(holdout_frac) * len(lab)))
        if k < 1 or k >= len(lab):
            raise RelforgeError(f"--holdout-frac {holdout_frac} of {len(lab)} labelled rows of {table!r} leaves no "
                                "row to predict or none to learn from")
        hidden = np.zeros(len(df), dtype=bool)
        hidden[child(seed, "holdout-frac", table, target).choice(lab, size=k, replace=False)] = True
        train_rows = ~hidden
    elif holdout_after is not None:
        if times is None:
            raise RelforgeError(f"table {table!r} has no time column; --holdout-after needs a timed table "
                                "(use autocomplete of missing values instead)")
        try:
            cut = pd.Timestamp(holdout_after)
        except (ValueError, TypeError):
            raise RelforgeError(f"bad --holdout-after timestamp {holdout_after!r}") from None
        if getattr(times.dt, "tz", None) is not None and cut.tz is None:
            cut = cut.tz_localize("UTC")
        hidden = (times > cut).to_numpy()
        if not hidden.any():
            raise RelforgeError(f"table {table!r} has no rows after {cut} (its {t.time_col!r} ends at {times.max()})")
        val_ts = cut.tz_localize(None) if cut.tz is not None else cut
        train_rows = ~hidden
    else:
        hidden = ~np.isfinite(y_num)
        if not hidden.any():
            raise RelforgeError(f"column {target!r} of table {table!r} has no missing values; nothing to fill "
                                "(use --holdout-after TIMESTAMP to score predictions on later rows)")
        train_rows = np.ones(len(df), dtype=bool)
        if val_ts is not None and times is not None:
            train_rows = (times.isna() | (times < val_ts)).to_numpy()
    known = np.isfinite(y_num) & ~hidden
    if not known.any():
        raise RelforgeError(f"column {target!r} of table {table!r} has no known values to learn its scale from")
    # a masked placeholder for hidden targets (the model never sees it: the seed's target cell is masked
    # and hidden cells of other rows are removed from contexts)
    fill = float(np.nanmean(y_num[known])) if task_type == "regression" else float(np.nanmean(y_num[known]) >= 0.5)
    y_new = np.where(hidden, fill, y_num)
    df2 = df.copy()
    df2[target] = (y_new > 0.5) if task_type == "binary_classification" and not np.isnan(y_new).any() else y_new
    if task_type == "binary_classification" and np.isnan(y_new).any():
        df2[target] = pd.array([None if np.isnan(v) else bool(v > 0.5) for v in y_new], dtype="boolean")
    t2 = Table(df2, t.pkey_col, dict(t.fkey_col_to_pkey_table), t.time_col, dict(t.stypes), getattr(t, "kind", None))
    tables = dict(db.tables)
    tables[table] = t2
    test_ts = db.test_timestamp if (db.test_timestamp is not None and val_ts is not None and db.test_timestamp >= val_ts) else None
    db2 = Database(tables, val_ts, test_ts, db.name, dict(db.meta))
    prog.release()  # the input is accepted: stage lines from here on
    store = tokenize_database(db2, [], embedder=embedder_for(emb), progress=prog, lazy=True)
    tc = store.col_id(table, target)
    ti = store.table_id(table)
    # statistics of the target column from known training-period values only
    fit = fit_boolean_stats if task_type == "binary_classification" else fit_number_stats
    stats_new = fit(y_num[known & train_rows] if (known & train_rows).any() else y_num[known])
    old = store.columns[tc]["stats"]
    m1, s1 = float(old["mean"]), float(old["std"])
    cv = np.array(store.arrays["cell_value"], dtype=np.float32)
    sel = np.asarray(store.arrays["cell_col"]) == tc
    cv[sel] = (((cv[sel].astype(np.float64) * s1 + m1) - stats_new.mean) / stats_new.std).astype(np.float32)
    store.arrays["cell_value"] = cv
    store.columns[tc]["stats"] = stats_new.to_dict()
    a, _ = store.node_range(ti)
    seeds = a + np.nonzero(hidden)[0].astype(np.int64)
    peers = by_time(store, a + np.nonzero(known)[0].astype(np.int64))  # labelled rows: in-context examples
    st = SamplerTask(store, f"{table}.{target}", "autocomplete", task_type, "test", ti, tc, seeds,
                     np.zeros(len(store.columns), dtype=np.uint8), peers=peers)
    L = ctx_len or ck.context.ctx_len
    width = int(store.tables[ti]["max_cells"])
    if L < width:
        raise RelforgeError(f"ctx_len {L} is smaller than one row of table {table!r} ({width} cells)")
    bfs, npeers = ck.context.max_bfs_width, ck.context.peers
    model, tuned = ck.model, {}
    if finetune_steps:
        from relforge.finetune import finetune

        tr = a + np.nonzero(known & train_rows)[0].astype(np.int64)
        tr_task = SamplerTask(store, f"{table}.{target}", "autocomplete", task_type, "train", ti, tc, tr,
                              np.zeros(len(store.columns), dtype=np.uint8), peers=peers)
        res = finetune(ck.model, tr_task, steps=int(finetune_steps), ctx_len=L, max_bfs_width=bfs, peers=npeers,
                       hidden_nodes=seeds, seed=seed, progress=prog)
        model, tuned = res.model, res.to_dict()
        prog.done("fine-tune", f"{res.steps} steps on {res.n_seeds:,} labelled rows, loss {res.loss_first:.4f} -> "
                               f"{res.loss_last:.4f}")
    nodes, out = predict_task(model, st, ctx_len=L, batch_size=batch_size, seed=seed, hidden_nodes=seeds,
                              max_bfs_width=bfs, peers=npeers, progress=prog)
    pos = nodes - a
    pred = _denorm(task_type, out, store.columns[tc]["stats"])
    frame = pd.DataFrame({t.pkey_col or "row": df[t.pkey_col].to_numpy()[pos] if t.pkey_col else pos})
    if t.time_col is not None:
        frame[t.time_col] = df[t.time_col].to_numpy()[pos]
    frame[f"{target}_pred"] = pred
    metrics, base = {}, {}
    if holdout_after is not None or holdout_frac is not None:
        frame[target] = y_num[pos]
        metrics = score(task_type, y_num[pos], pred)
        if baselines:
            from relforge.predict_baselines import autocomplete_baselines

            base = autocomplete_baselines(db, table, target, task_type, y_num, known & train_rows, hidden, seed=seed)
            prog.done("baselines", f"constant and LightGBM on {base['n_train']:,} training rows")
    return Prediction(frame, metrics, task_type, len(frame), base, tuned)


# ------------------------------------------------------------------------------------ forecast task files

@dataclass(frozen=True)
class TaskFile:
    """A forecast / autocomplete task on a user database (TOML; see ``examples/chinook_task.toml``)."""

    name: str
    entity_table: str
    entity_col: str | None
    target_column: str | None  # autocomplete form: a column of entity_table
    sql: str | None  # forecast form: label query over timestamp_df and the tables, {horizon} in days
    label: str | None  # forecast: label column of the query
    task_type: str | None
    horizon_days: int | None
    predict_at: tuple[pd.Timestamp, ...]
    history_every_days: int | None
    holdout_after: pd.Timestamp | None


def load_taskfile(path: str | Path) -> TaskFile:
    """Parse and check a TOML task file; RelforgeError naming the file and the problem."""
    p = Path(path)
    if not p.is_file():
        raise RelforgeError(f"task file {str(p)!r} does not exist")
    try:
        d = tomllib.loads(p.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RelforgeError(f"task file {str(p)!r} is not valid TOML ({' '.join(str(e).split())})") from None
    known = {"name", "entity_table", "entity_col", "target", "timestamps"}
    unknown = sorted(set(d) - known)
    if unknown:
        raise RelforgeError(f"task file {str(p)!r}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if "entity_table" not in d:
        raise RelforgeError(f"task file {str(p)!r}: missing entity_table")
    tg = d.get("target")
    if not isinstance(tg, dict):
        raise RelforgeError(f"task file {str(p)!r}: missing [target] section (column = ..., or sql/label/type/horizon_days)")
    ts = d.get("timestamps", {})
    if not isinstance(ts, dict):
        raise RelforgeError(f"task file {str(p)!r}: [timestamps] must be a table")

    def _ts(v, what):
        try:
            return pd.Timestamp(v)
        except (ValueError, TypeError):
            raise RelforgeError(f"task file {str(p)!r}: bad timestamp {v!r} in {what}") from None

    if "column" in tg:
        extra = sorted(set(tg) - {"column"})
        if extra:
            raise RelforgeError(f"task file {str(p)!r}: [target] has column and {', '.join(extra)}; use one form")
        ha = ts.get("holdout_after")
        return TaskFile(d.get("name", f"{d['entity_table']}.{tg['column']}"), d["entity_table"], d.get("entity_col"),
                        str(tg["column"]), None, None, None, None, (), None, _ts(ha, "holdout_after") if ha else None)
    missing = [k for k in ("sql", "label", "type", "horizon_days") if k not in tg]
    if missing:
        raise RelforgeError(f"task file {str(p)!r}: [target] needs column = ..., or all of sql, label, type, "
                            f"horizon_days (missing {', '.join(missing)})")
    if tg["type"] not in ("binary_classification", "regression"):
        raise RelforgeError(f"task file {str(p)!r}: target type must be binary_classification or regression, got {tg['type']!r}")
    h = tg["horizon_days"]
    if not isinstance(h, int) or isinstance(h, bool) or h < 1:
        raise RelforgeError(f"task file {str(p)!r}: horizon_days must be a positive integer, got {h!r}")
    pa = ts.get("predict_at")
    if pa is None:
        raise RelforgeError(f"task file {str(p)!r}: a forecast needs [timestamps] predict_at = [...] (cut-off times)")
    pa = pa if isinstance(pa, list) else [pa]
    if not pa:
        raise RelforgeError(f"task file {str(p)!r}: predict_at is empty")
    every = ts.get("history_every_days")
    if every is not None and (not isinstance(every, int) or every < 1):
        raise RelforgeError(f"task file {str(p)!r}: history_every_days must be a positive integer, got {every!r}")
    return TaskFile(d.get("name", "task"), d["entity_table"], d.get("entity_col"), None, str(tg["sql"]), str(tg["label"]),
                    tg["type"], int(h), tuple(sorted(_ts(v, "predict_at") for v in pa)), every, None)



MAX_HISTORY = 400  # history cut-offs at most


def forecast(db, tf: TaskFile, *, checkpoint: str | Path | None = None, embedder: str | None = None,
             ctx_len: int | None = None, batch_size: int = 16, seed: int = 0, ckpt: Checkpoint | None = None,
             finetune_steps: int = 0, baselines: bool = False, progress=None, holdout_frac: float | None = None) -> Prediction:
    """Predict a task file's target for every (entity, cut-off) row of ``predict_at``.

    History cut-offs ``t0 - h, t0 - h - every, ...`` (``t0`` the first prediction time, ``h`` the
    horizon) down to the database's first timestamp give labelled rows that the model sees as
    in-context examples. Rows at the prediction times come from the label query when its window
    lies inside the data (their true labels are then scored), otherwise one row per entity existing
    at the cut-off (no truth, no score). ``finetune_steps``, ``baselines`` and ``progress`` as in
    :func:`autocomplete` (fine-tuning trains on the history rows).
    """
    from relforge.progress import SILENT
    from relforge.db.database import Database
    from relforge.db.task import Task
    from relforge.realdata._common import time_range
    from relforge.realdata.tasks import ForecastTaskDef
    from relforge.tokenize.cells import tokenize_database
    from relforge.tokenize.tasks import resolve_task

    if tf.sql is None:
        return autocomplete(db, tf.entity_table, tf.target_column, checkpoint=checkpoint, embedder=embedder,
                            holdout_after=tf.holdout_after if holdout_frac is None else None, ctx_len=ctx_len,
                            batch_size=batch_size, seed=seed, ckpt=ckpt, holdout_frac=holdout_frac,
                            finetune_steps=finetune_steps, baselines=baselines, progress=progress)
    if holdout_frac is not None:
        raise RelforgeError("--holdout-frac applies to a column target; a forecast is scored when its windows lie "
                            "in the data")
    prog = progress or SILENT
    ck = ckpt or ckpt_io.load(checkpoint)
    emb = check_embedder(ck, embedder)
    ent = _check_table(db, tf.entity_table)
    timed = [n for n, t in db.tables.items() if t.time_col is not None]
    if not timed:
        raise RelforgeError(f"database {db.name!r} has no timed table; a forecast needs event times (use a column target)")
    ecol = tf.entity_col or ent.pkey_col
    if ecol is None:
        raise RelforgeError(f"entity table {tf.entity_table!r} has no primary key; set entity_col")
    lo, hi = time_range(db)
    t0 = tf.predict_at[0]
    if t0 <= lo:
        raise RelforgeError(f"predict_at {t0} is not after the database's first timestamp {lo}; no history to learn from")
    h = pd.Timedelta(days=tf.horizon_days)
    every = pd.Timedelta(days=tf.history_every_days or tf.horizon_days)
    hist = pd.date_range(start=t0 - h, end=lo, freq=-every)[:MAX_HISTORY]
    if len(hist) == 0:
        raise RelforgeError(f"no history cut-off fits between {lo} and predict_at - horizon ({t0 - h})")
    d = ForecastTaskDef(tf.name, db.name, tf.task_type, tf.entity_table, ecol, tf.label, tf.horizon_days, tf.sql, "")

    def _run(ts):
        try:
            df = d.make_table(db, ts)
        except RelforgeError:
            raise
        except Exception as e:  # duckdb errors: bad SQL, unknown table/column
            raise RelforgeError(f"task {tf.name!r}: the label query failed: {' '.join(str(e).split())[:300]}") from None
        for c in ("timestamp", ecol, tf.label):
            if c not in df.columns:
                raise RelforgeError(f"task {tf.name!r}: the label query must return columns timestamp, {ecol}, {tf.label}; "
                                    f"it returned {', '.join(df.columns)}")
        return df[["timestamp", ecol, tf.label]]

    train = _run(hist)
    if train[tf.label].notna().sum() == 0:
        raise RelforgeError(f"task {tf.name!r}: the label query returned no history rows before {t0}")
    with_truth = tf.predict_at[-1] + h <= hi
    pred_rows = _run(list(tf.predict_at)) if with_truth else pd.DataFrame()
    if len(pred_rows) == 0:
        with_truth = False
        keys = ent.df[ecol].to_numpy()
        rows = []
        for t in tf.predict_at:
            ok = np.ones(len(keys), bool)
            if ent.time_col is not None:
                ok = (pd.to_datetime(ent.df[ent.time_col]) <= t).to_numpy()
            rows.append(pd.DataFrame({"timestamp": t, ecol: keys[ok]}))
        pred_rows = pd.concat(rows, ignore_index=True)
        pred_rows[tf.label] = np.nan
    truth = pred_rows[tf.label].to_numpy(dtype=np.float64).copy()
    fill = float(train[tf.label].mean())
    pred_rows = pred_rows.copy()
    pred_rows[tf.label] = (fill >= 0.5) * 1 if tf.task_type == "binary_classification" else fill
    pred_rows["timestamp"] = pred_rows["timestamp"].astype("datetime64[ns]")
    task = Task(name=tf.name, kind="forecast", task_type=tf.task_type, target_col=tf.label, entity_table=tf.entity_table,
                entity_col=ecol, time_col="timestamp", horizon=h, splits={"train": train, "test": pred_rows})
    task.validate()
    db2 = Database(dict(db.tables), t0, t0, db.name, dict(db.meta))
    prog.release()
    prog.done("label query", f"{len(train):,} history rows ({len(hist)} cut-offs), {len(pred_rows):,} rows to predict")
    store = tokenize_database(db2, [task], embedder=embedder_for(emb), progress=prog, lazy=True)
    st = resolve_task(store, task, "test")
    L = ctx_len or ck.context.ctx_len
    bfs = ck.context.max_bfs_width
    model, tuned = ck.model, {}
    if finetune_steps:
        from relforge.finetune import finetune

        # history rows only: a row to predict (cut-off >= predict_at[0]) is never admissible in a
        # history seed's context (its label is known only after cut-off + horizon)
        res = finetune(ck.model, resolve_task(store, task, "train"), steps=int(finetune_steps), ctx_len=L,
                       max_bfs_width=bfs, seed=seed, progress=prog)
        model, tuned = res.model, res.to_dict()
        prog.done("fine-tune", f"{res.steps} steps on {res.n_seeds:,} history rows, loss {res.loss_first:.4f} -> "
                               f"{res.loss_last:.4f}")
    nodes, out = predict_task(model, st, ctx_len=L, batch_size=batch_size, seed=seed, max_bfs_width=bfs,
                              progress=prog)
    pos = nodes - store.node_range(st.table)[0] - len(train)
    pred = _denorm(tf.task_type, out, store.columns[st.target_col]["stats"])
    frame = pd.DataFrame({ecol: pred_rows[ecol].to_numpy()[pos], "timestamp": pred_rows["timestamp"].to_numpy()[pos],
                          f"{tf.label}_pred": pred})
    metrics, base = {}, {}
    if with_truth:
        frame[tf.label] = truth[pos]
        metrics = score(tf.task_type, truth[pos], pred)
        if baselines:
            from relforge.predict_baselines import forecast_baselines

            base = forecast_baselines(db, task, truth, seed=seed)
            prog.done("baselines", f"constant and LightGBM on {base['n_train']:,} history rows")
    frame = frame.sort_values(["timestamp", ecol], kind="stable").reset_index(drop=True)
    return Prediction(frame, metrics, tf.task_type, len(frame), base, tuned)


# ------------------------------------------------------------------------------------ files

def write_frame(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` to ``.csv`` or ``.parquet`` (by extension), atomically."""
    from relforge.db.io import atomic_file

    out = Path(out)
    ext = out.suffix.lower()
    if ext not in (".csv", ".parquet"):
        raise RelforgeError(f"output {str(out)!r} must end in .csv or .parquet")
    if out.is_dir():
        raise RelforgeError(f"output {str(out)!r} is a directory")
    with atomic_file(out) as tmp:
        if ext == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return out


def infer_time_cols(db):
    """Give each table without a time column the one datetime column it has, if exactly one.

    SQLite/DuckDB files carry no notion of a row's time; a table with a single datetime column
    (``Invoice.InvoiceDate``) is taken as timed by it, so contexts respect time. Tables with none or
    several (``Employee.BirthDate``/``HireDate``) stay untimed. Returns a new Database.
    """
    from dataclasses import replace

    from relforge.db.database import Database
    from relforge.db.table import Stype

    tables = {}
    for n, t in db.tables.items():
        if t.time_col is None:
            dts = [c for c in t.df.columns if c not in t.key_cols and (t.stypes.get(c) == Stype.datetime or
                   pd.api.types.is_datetime64_any_dtype(t.df[c].dtype))]
            if len(dts) == 1:
                t = replace(t, time_col=dts[0])
        tables[n] = t
    return Database(tables, db.val_timestamp, db.test_timestamp, db.name, dict(db.meta))


def load_user_db(path: str | Path):
    """``relforge.load`` with one-line errors for a missing or unreadable database."""
    from relforge.db.io import load_database

    p = Path(path)
    if not p.exists():
        raise RelforgeError(f"database {str(p)!r} does not exist")
    try:
        return infer_time_cols(load_database(p))
    except RelforgeError:
        raise
    except Exception as e:  # corrupt sqlite/duckdb/parquet files
        raise RelforgeError(f"cannot read database {str(p)!r}: {type(e).__name__}: {' '.join(str(e).split())[:200]}") from None


def run_predict(db_path, *, out, table: str | None = None, target: str | None = None, taskfile=None,
                checkpoint=None, embedder: str | None = None, holdout_after=None, ctx_len: int | None = None,
                batch_size: int = 16, seed: int = 0, threads: int = 1, holdout_frac: float | None = None,
                finetune_steps: int = 0, baselines: bool = True, progress=None) -> dict:
    """The ``relforge predict`` command: load, (fine-tune,) predict, write ``out`` and, when scored,
    ``<out>.scores.json``; returns a summary dict (``line``: the model and baseline scores)."""
    with torch_threads(threads):
        return _run_predict(db_path, out=out, table=table, target=target, taskfile=taskfile, checkpoint=checkpoint,
                            embedder=embedder, holdout_after=holdout_after, ctx_len=ctx_len, batch_size=batch_size,
                            seed=seed, holdout_frac=holdout_frac, finetune_steps=finetune_steps, baselines=baselines,
                            progress=progress)


def _run_predict(db_path, *, out, table, target, taskfile, checkpoint, embedder, holdout_after, ctx_len, batch_size,
                 seed, holdout_frac, finetune_steps, baselines, progress) -> dict:
    from relforge.progress import SILENT

    prog = progress or SILENT
    if taskfile is None and (table is None or target is None):
        raise RelforgeError("give --table and --target (autocomplete), or --task TASKFILE (forecast)")
    if taskfile is not None and (table is not None or target is not None):
        raise RelforgeError("give either --task TASKFILE or --table/--target, not both")
    if out is not None and Path(out).suffix.lower() not in (".csv", ".parquet"):
        raise RelforgeError(f"output {str(out)!r} must end in .csv or .parquet")
    if finetune_steps is None or int(finetune_steps) < 0:
        raise RelforgeError(f"--finetune-steps must be >= 0, got {finetune_steps!r}")
    if holdout_frac is not None and holdout_after is not None:
        raise RelforgeError("give --holdout-after or --holdout-frac, not both")
    if holdout_frac is not None and not 0 < float(holdout_frac) < 1:
        raise RelforgeError(f"--holdout-frac must be between 0 and 1, got {holdout_frac!r}")
    prog.hold()
    tf = load_taskfile(taskfile) if taskfile is not None else None
    ck = ckpt_io.load(checkpoint)
    db = load_user_db(db_path)
    prog.done("load", f"{len(db.tables)} tables, {sum(len(t) for t in db.tables.values()):,} rows, "
                      f"model {Path(ck.path).name}")
    kw = dict(embedder=embedder, ctx_len=ctx_len, batch_size=batch_size, seed=seed, ckpt=ck, holdout_frac=holdout_frac,
              finetune_steps=int(finetune_steps), baselines=baselines, progress=prog)
    if tf is not None:
        res = forecast(db, tf, **kw)
    else:
        res = autocomplete(db, table, target, holdout_after=holdout_after, **kw)
    prog.release()
    summary = dict(rows=res.n_rows, task_type=res.task_type, metrics=res.metrics, checkpoint=ck.path)
    if res.finetune:
        summary["finetune"] = res.finetune
    if res.metrics:
        from relforge.predict_baselines import format_line

        label = f"model (fine-tuned {res.finetune['steps']} steps)" if res.finetune else "model"
        summary["baselines"] = res.baselines
        summary["line"] = format_line(res.metrics, res.baselines, res.task_type, label)
    if out is not None:
        summary["out"] = str(write_frame(res.frame, out))
        if res.metrics:
            from relforge.predict_baselines import scores_path, write_scores

            rec = {"task": tf.name if tf is not None else f"{table}.{target}", "task_type": res.task_type,
                   "rows": res.n_rows, "model": {**res.metrics, "checkpoint": Path(ck.path).name,
                                                 "finetune": res.finetune or None},
                   **{k: v for k, v in res.baselines.items() if k in ("constant", "lightgbm", "n_train")}}
            summary["scores"] = str(write_scores(scores_path(out), rec))
    return summary
