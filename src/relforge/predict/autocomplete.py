"""Autocomplete on a user's database: fill a number/boolean column where it is missing, or predict
it for the rows after a timestamp and score the predictions (see ``relforge.predict``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.table import Stype, Table
from relforge.db.task import TaskKind, TaskType
from relforge.errors import RelforgeError
from relforge.inference import denormalize, embedder_for, predict_task, score
from relforge.model import checkpoint as ckpt_io
from relforge.model.checkpoint import Checkpoint, check_embedder
from relforge.tokenize.cells import tokenize_database
from relforge.tokenize.stats import fit_boolean_stats, fit_number_stats
from relforge.tokenize.tasks import SamplerTask, by_time


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
    st = table.stypes.get(col)
    s = table.df[col]
    if st == Stype.boolean or pd.api.types.is_bool_dtype(s.dtype):
        return TaskType.binary_classification
    if st in (Stype.numerical,) or (st is None and pd.api.types.is_numeric_dtype(s.dtype)):
        return TaskType.regression
    if st == Stype.categorical and pd.api.types.is_numeric_dtype(s.dtype):
        vals = set(pd.unique(s.dropna()))
        return TaskType.binary_classification if vals <= {0, 1} else TaskType.regression
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

    prog = progress or SILENT
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
    if task_type == TaskType.binary_classification:
        y_num = y.map(lambda v: np.nan if pd.isna(v) else float(bool(v))).astype(np.float64).to_numpy()
    else:
        y_num = pd.to_numeric(y, errors="coerce").astype(np.float64).to_numpy()
    times = None
    if t.time_col is not None:
        times = pd.to_datetime(df[t.time_col], errors="coerce")
    val_ts = db.val_timestamp
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
    fill = float(np.nanmean(y_num[known])) if task_type == TaskType.regression else float(np.nanmean(y_num[known]) >= 0.5)
    y_new = np.where(hidden, fill, y_num)
    df2 = df.copy()
    df2[target] = (y_new > 0.5) if task_type == TaskType.binary_classification and not np.isnan(y_new).any() else y_new
    if task_type == TaskType.binary_classification and np.isnan(y_new).any():
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
    fit = fit_boolean_stats if task_type == TaskType.binary_classification else fit_number_stats
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
    st = SamplerTask(store, f"{table}.{target}", TaskKind.autocomplete, task_type, "test", ti, tc, seeds,
                     np.zeros(len(store.columns), dtype=np.uint8), peers=peers)
    L = ctx_len or ck.context.ctx_len
    width = int(store.tables[ti]["max_cells"])
    if L < width:
        raise RelforgeError(f"ctx_len {L} is smaller than one row of table {table!r} ({width} cells)")
    context = ck.context.replace(ctx_len=L)
    model, tuned = ck.model, {}
    if finetune_steps:
        from relforge.finetune import finetune, hidden_share

        tr = a + np.nonzero(known & train_rows)[0].astype(np.int64)
        tr_task = SamplerTask(store, f"{table}.{target}", TaskKind.autocomplete, task_type, "train", ti, tc, tr,
                              np.zeros(len(store.columns), dtype=np.uint8), peers=peers)
        # training contexts lack as much of the target column as the prediction contexts will
        share = hidden_share(st, seeds, context=context, seed=seed)
        res = finetune(ck.model, tr_task, steps=int(finetune_steps), context=context, hidden_nodes=seeds, seed=seed,
                       column_mask=share, progress=prog)
        model, tuned = res.model, res.to_dict()
        prog.done("fine-tune", f"{res.steps} steps on {res.n_seeds:,} labelled rows ({share:.0%} of the other rows' "
                               f"{target} hidden per context), loss {res.loss_first:.4f} -> {res.loss_last:.4f}")
    o = predict_task(model, st, context, batch_size=batch_size, seed=seed, hidden_nodes=seeds, progress=prog)
    nodes, out = o.seed_row, o.pred
    pos = nodes - a
    pred = denormalize(task_type, out, store.columns[tc]["stats"])
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
