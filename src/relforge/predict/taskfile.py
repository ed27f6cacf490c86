"""Forecast task files (TOML) on a user's database, and :func:`forecast` (see ``relforge.predict``)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.task import TASK_TYPES, Task, TaskKind, TaskType
from relforge.errors import RelforgeError
from relforge.inference import denormalize, embedder_for, predict_task, score
from relforge.model import checkpoint as ckpt_io
from relforge.model.checkpoint import Checkpoint, check_embedder
from relforge.predict.autocomplete import Prediction, _check_table, autocomplete
from relforge.realdata.tasks import ForecastTaskDef, time_range
from relforge.tokenize.cells import tokenize_database
from relforge.tokenize.tasks import resolve_task


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
    if tg["type"] not in TASK_TYPES:
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
             finetune_steps: int = 0, baselines: bool = False, progress=None,
             holdout_frac: float | None = None, history: int | None = None) -> Prediction:
    """Predict a task file's target for every (entity, cut-off) row of ``predict_at``.

    History cut-offs ``t0 - h, t0 - h - every, ...`` (``t0`` the first prediction time, ``h`` the
    horizon) down to the database's first timestamp give labelled rows that the model sees as
    in-context examples. Rows at the prediction times come from the label query when its window
    lies inside the data (their true labels are then scored), otherwise one row per entity existing
    at the cut-off (no truth, no score). ``finetune_steps``, ``baselines`` and ``progress`` as in
    :func:`relforge.predict.autocomplete.autocomplete` (fine-tuning trains on the history rows).
    """
    from relforge.progress import SILENT

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
    pred_rows[tf.label] = (fill >= 0.5) * 1 if tf.task_type == TaskType.binary_classification else fill
    pred_rows["timestamp"] = pred_rows["timestamp"].astype("datetime64[ns]")
    task = Task(name=tf.name, kind=TaskKind.forecast, task_type=tf.task_type, target_col=tf.label, entity_table=tf.entity_table,
                entity_col=ecol, time_col="timestamp", horizon=h, splits={"train": train, "test": pred_rows})
    task.validate()
    db2 = Database(dict(db.tables), t0, t0, db.name, dict(db.meta))
    prog.release()
    prog.done("label query", f"{len(train):,} history rows ({len(hist)} cut-offs), {len(pred_rows):,} rows to predict")
    store = tokenize_database(db2, [task], embedder=embedder_for(emb), progress=prog, lazy=True)
    st = resolve_task(store, task, "test")
    L = ctx_len or ck.context.ctx_len
    context = ck.context.replace(ctx_len=L, history=history)  # history: labels per context (default the checkpoint's)
    model, tuned = ck.model, {}
    if finetune_steps:
        from relforge.finetune import finetune

        # history rows only: a row to predict (cut-off >= predict_at[0]) is never admissible in a
        # history seed's context (its label is known only after cut-off + horizon)
        res = finetune(ck.model, resolve_task(store, task, "train"), steps=int(finetune_steps), context=context,
                       seed=seed, progress=prog)
        model, tuned = res.model, res.to_dict()
        prog.done("fine-tune", f"{res.steps} steps on {res.n_seeds:,} history rows, loss {res.loss_first:.4f} -> "
                               f"{res.loss_last:.4f}")
    o = predict_task(model, st, context, batch_size=batch_size, seed=seed, progress=prog)
    nodes, out = o.seed_row, o.pred
    pos = nodes - store.node_range(st.table)[0] - len(train)
    pred = denormalize(tf.task_type, out, store.columns[st.target_col]["stats"])
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
