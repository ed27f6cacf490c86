"""Prediction tasks on the real databases, declared relbench-style and computed with DuckDB SQL.

A **forecast** task is a few attributes plus one SQL query. ``make_table(db, timestamps)``
registers the database tables and a ``timestamp_df(timestamp)`` frame in a fresh DuckDB
connection and runs the query; ``{horizon}`` in the query is the window length in days. The
query returns ``timestamp``, the entity column and the target column, one row per
(cut-off ``t``, entity) with the label taken from the window ``(t, t + horizon]``.

Split timestamps are derived in one place (:func:`split_timestamps`, RelBench's rule; see
data/f1/README.md "Timestamps"):

- train: ``t = val_timestamp - Δ``, stepping back by Δ down to the database's minimum timestamp;
- val: ``t = val_timestamp, +Δ, ...`` up to ``min(val + (n_eval - 1)Δ, test_timestamp - Δ)``;
- test: ``t = test_timestamp, +Δ, ...`` up to ``min(test + (n_eval - 1)Δ, max_timestamp - Δ)``,

with ``n_eval = 40``. Labels are computed on the full database (test labels too; relbench cuts
the database at ``test_timestamp`` for train/val, which gives the same rows because those
windows end at or before it). The task frames keep the labels: whoever shows a test frame to a
model must hide ``target_col`` itself.

An **autocomplete** task masks one real column of one table (``Task(kind="autocomplete")``).
Its split frames list the example rows (primary key, ``timestamp`` when the table is timed,
target) with a non-null target: timed tables split at the database's val/test timestamps,
static tables by a seeded 80/10/10 permutation of their rows.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.task import Task, TaskKind, TaskType
from relforge.errors import RelforgeError
from relforge.rng import child

N_EVAL_TIMESTAMPS = 40
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ForecastTaskDef:
    """A forecast task: attributes plus one SQL query (see the module docstring)."""

    name: str
    db_name: str
    task_type: str  # "binary_classification" | "regression"
    entity_table: str
    entity_col: str
    target_col: str
    horizon_days: int
    sql: str
    metric: str  # headline metric: "roc_auc" | "r2" | "mae"
    doc: str = ""
    num_eval_timestamps: int = N_EVAL_TIMESTAMPS

    @property
    def horizon(self) -> pd.Timedelta:
        return pd.Timedelta(days=self.horizon_days)

    def make_table(self, db: Database, timestamps) -> pd.DataFrame:
        """Run the task query for the given cut-off timestamps; rows sorted by (timestamp, entity)."""
        ts = pd.DatetimeIndex(pd.to_datetime(timestamps)).astype("datetime64[ns]")
        con = duckdb.connect()
        try:
            for tname, t in db.tables.items():
                con.register(tname, t.df)
            con.register("timestamp_df", pd.DataFrame({"timestamp": ts}))
            df = con.execute(self.sql.format(horizon=int(self.horizon_days))).df()
        finally:
            con.close()
        df["timestamp"] = df["timestamp"].astype("datetime64[ns]")
        df[self.entity_col] = df[self.entity_col].astype(np.int64)
        if self.task_type == TaskType.binary_classification:
            df[self.target_col] = df[self.target_col].astype(np.int64)
        else:
            df[self.target_col] = df[self.target_col].astype(np.float64)
        df = df[["timestamp", self.entity_col, self.target_col]]
        return df.sort_values(["timestamp", self.entity_col], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class AutocompleteTaskDef:
    """An autocomplete task: predict ``table.target_col`` with ``drop_cols`` hidden from contexts."""

    name: str
    db_name: str
    task_type: str
    table: str
    target_col: str
    drop_cols: tuple[str, ...] = ()
    metric: str = "r2"
    doc: str = ""
    split_seed: int = 0
    split_fracs: tuple[float, float] = (0.8, 0.9)  # static tables: train < 0.8 <= val < 0.9 <= test

    def make_splits(self, db: Database) -> dict[str, pd.DataFrame]:
        t = db[self.table]
        if self.target_col not in t.df.columns:
            raise RelforgeError(f"task {self.name!r}: table {self.table!r} has no column {self.target_col!r}")
        if t.pkey_col is None:
            raise RelforgeError(f"task {self.name!r}: table {self.table!r} needs a primary key")
        df = t.df
        cols = [t.pkey_col] + ([t.time_col] if t.time_col else []) + [self.target_col]
        ex = df.loc[df[self.target_col].notna(), cols]
        if t.time_col:
            ex = ex.rename(columns={t.time_col: "timestamp"})
            tt = ex["timestamp"]
            masks = {
                "train": tt <= db.val_timestamp,
                "val": (tt > db.val_timestamp) & (tt <= db.test_timestamp),
                "test": tt > db.test_timestamp,
            }
        else:
            u = child(self.split_seed, "autocomplete", self.db_name, self.name).random(len(df))
            u = pd.Series(u, index=df.index).loc[ex.index]
            lo, hi = self.split_fracs
            masks = {"train": u < lo, "val": (u >= lo) & (u < hi), "test": u >= hi}
        return {s: ex[m].reset_index(drop=True) for s, m in masks.items()}


TaskDef = ForecastTaskDef | AutocompleteTaskDef


def time_range(db: Database) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(min, max) over every time column of the database (relbench's min/max_timestamp)."""
    lo, hi = [], []
    for t in db.tables.values():
        if t.time_col is not None and len(t.df):
            s = t.df[t.time_col]
            lo.append(s.min())
            hi.append(s.max())
    if not lo:
        raise RelforgeError(f"database {db.name!r} has no timed rows")
    return pd.Timestamp(min(lo)), pd.Timestamp(max(hi))


def split_timestamps(db: Database, horizon: pd.Timedelta, split: str, n_eval: int = N_EVAL_TIMESTAMPS) -> pd.DatetimeIndex:
    """Cut-off timestamps of one split (RelBench's rule, module docstring).

    Raises
    ------
    RelforgeError
        When the database has no val/test timestamps, or a window does not fit.
    """
    if db.val_timestamp is None or db.test_timestamp is None:
        raise RelforgeError(f"database {db.name!r} has no val/test timestamps")
    lo, hi = time_range(db)
    val, test = db.val_timestamp, db.test_timestamp
    if split == "train":
        ts = pd.date_range(start=val - horizon, end=lo, freq=-horizon)
        if len(ts) < 3:
            raise RelforgeError(f"database {db.name!r}: fewer than 3 train timestamps for a {horizon} window")
    elif split == "val":
        if val + horizon > hi:
            raise RelforgeError(f"database {db.name!r}: val window runs past the last timestamp")
        ts = pd.date_range(start=val, end=min(val + horizon * (n_eval - 1), test - horizon), freq=horizon)
    elif split == "test":
        if test + horizon > hi:
            raise RelforgeError(f"database {db.name!r}: test window runs past the last timestamp")
        ts = pd.date_range(start=test, end=min(test + horizon * (n_eval - 1), hi - horizon), freq=horizon)
    else:
        raise RelforgeError(f"unknown split {split!r} (use train, val or test)")
    return ts


# ---------------------------------------------------------------------------------------------
# rel-f1 driver tasks (label definitions as RelBench's; data/f1/README.md "The three driver tasks")
# The "driver has a result in the year before t" filter of the RelBench SQL never removes a row
# (the driver already has a row in the future window), so it is left out.

_F1_DNF = """
SELECT t.timestamp AS timestamp, re.driverId AS driverId,
       MAX(CASE WHEN re.statusId != 1 THEN 1 ELSE 0 END) AS did_not_finish
FROM timestamp_df t
JOIN results re
  ON re.date > t.timestamp AND re.date <= t.timestamp + INTERVAL '{horizon} days'
GROUP BY t.timestamp, re.driverId
"""

_F1_TOP3 = """
SELECT t.timestamp AS timestamp, qu.driverId AS driverId,
       CASE WHEN MIN(qu.position) <= 3 THEN 1 ELSE 0 END AS qualifying
FROM timestamp_df t
JOIN qualifying qu
  ON qu.date > t.timestamp AND qu.date <= t.timestamp + INTERVAL '{horizon} days'
GROUP BY t.timestamp, qu.driverId
"""

_F1_POSITION = """
SELECT t.timestamp AS timestamp, re.driverId AS driverId, AVG(re.positionOrder) AS position
FROM timestamp_df t
JOIN results re
  ON re.date > t.timestamp AND re.date <= t.timestamp + INTERVAL '{horizon} days'
GROUP BY t.timestamp, re.driverId
"""

# ---------------------------------------------------------------------------------------------
# Chinook customer tasks: rows for every customer with an invoice on or before t.

# One query shape for both tasks; only the label expression over the window's invoices differs.
_CHINOOK_WINDOW = """
SELECT t.timestamp AS timestamp, c.CustomerId AS CustomerId,
       {label}
FROM timestamp_df t
JOIN (SELECT CustomerId, MIN(InvoiceDate) AS first_date FROM Invoice GROUP BY CustomerId) c
  ON c.first_date <= t.timestamp
LEFT JOIN Invoice i2
  ON i2.CustomerId = c.CustomerId AND i2.InvoiceDate > t.timestamp
 AND i2.InvoiceDate <= t.timestamp + INTERVAL '{{horizon}} days'
GROUP BY t.timestamp, c.CustomerId
"""
_CHINOOK_SPEND = _CHINOOK_WINDOW.format(label="COALESCE(SUM(i2.Total), 0) AS spend")
_CHINOOK_CHURN = _CHINOOK_WINDOW.format(label="CASE WHEN COUNT(i2.InvoiceId) = 0 THEN 1 ELSE 0 END AS churn")

# ---------------------------------------------------------------------------------------------
# MovieLens user tasks.

# rows: users who rated anything in the year before t; label 1 if they rate nothing in the window
_ML_CHURN = """
SELECT t.timestamp AS timestamp, a.userId AS userId,
       CASE WHEN COUNT(r2.ratingId) = 0 THEN 1 ELSE 0 END AS churn
FROM timestamp_df t
JOIN (SELECT DISTINCT t0.timestamp AS ts, r.userId AS userId
      FROM timestamp_df t0 JOIN ratings r
        ON r.timestamp <= t0.timestamp AND r.timestamp > t0.timestamp - INTERVAL '365 days') a
  ON a.ts = t.timestamp
LEFT JOIN ratings r2
  ON r2.userId = a.userId AND r2.timestamp > t.timestamp
 AND r2.timestamp <= t.timestamp + INTERVAL '{horizon} days'
GROUP BY t.timestamp, a.userId
"""

# rows: users who rate something in the window; label = their mean rating there
_ML_MEAN_RATING = """
SELECT t.timestamp AS timestamp, r.userId AS userId, AVG(r.rating) AS mean_rating
FROM timestamp_df t
JOIN ratings r
  ON r.timestamp > t.timestamp AND r.timestamp <= t.timestamp + INTERVAL '{horizon} days'
GROUP BY t.timestamp, r.userId
"""

TASKS: dict[str, dict[str, TaskDef]] = {
    "f1": {
        d.name: d
        for d in (
            ForecastTaskDef("driver-dnf", "f1", TaskType.binary_classification, "drivers", "driverId", "did_not_finish", 30,
                            _F1_DNF, "roc_auc", "1 if any of the driver's results in the next 30 days has statusId != 1"),
            ForecastTaskDef("driver-top3", "f1", TaskType.binary_classification, "drivers", "driverId", "qualifying", 30,
                            _F1_TOP3, "roc_auc", "1 if the driver's best qualifying position in the next 30 days is <= 3"),
            ForecastTaskDef("driver-position", "f1", TaskType.regression, "drivers", "driverId", "position", 60,
                            _F1_POSITION, "mae", "mean results.positionOrder of the driver over the next 60 days"),
            AutocompleteTaskDef("results-position", "f1", TaskType.regression, "results", "position",
                                ("positionOrder", "points", "milliseconds"), "mae",
                                "finishing position of a result (finished rows only)"),
        )
    },
    "chinook": {
        d.name: d
        for d in (
            ForecastTaskDef("customer-spend", "chinook", TaskType.regression, "Customer", "CustomerId", "spend", 90,
                            _CHINOOK_SPEND, "r2", "sum of the customer's invoice totals in the next 90 days (0 if none)"),
            ForecastTaskDef("customer-churn", "chinook", TaskType.binary_classification, "Customer", "CustomerId", "churn", 90,
                            _CHINOOK_CHURN, "roc_auc", "1 if the customer has no invoice in the next 90 days"),
            AutocompleteTaskDef("track-unitprice", "chinook", TaskType.regression, "Track", "UnitPrice", (), "r2",
                                "list price of a track"),
        )
    },
    "movielens": {
        d.name: d
        for d in (
            ForecastTaskDef("user-churn", "movielens", TaskType.binary_classification, "users", "userId", "churn", 90,
                            _ML_CHURN, "roc_auc", "1 if a user active in the past year rates nothing in the next 90 days"),
            ForecastTaskDef("user-mean-rating", "movielens", TaskType.regression, "users", "userId", "mean_rating", 90,
                            _ML_MEAN_RATING, "r2", "mean star rating of the user's ratings in the next 90 days"),
            AutocompleteTaskDef("ratings-rating", "movielens", TaskType.regression, "ratings", "rating", (), "r2",
                                "star rating of one (user, movie) rating"),
        )
    },
}


def list_tasks(db_name: str) -> list[str]:
    """Task names defined on a real database (``"f1"``, ``"chinook"``, ``"movielens"``)."""
    if db_name not in TASKS:
        raise RelforgeError(f"unknown real database {db_name!r} (known: {', '.join(TASKS)})")
    return list(TASKS[db_name])


def task_def(db_name: str, task_name: str) -> TaskDef:
    """The declaration of one task (no data computed)."""
    names = list_tasks(db_name)
    if task_name not in TASKS[db_name]:
        raise RelforgeError(f"unknown task {task_name!r} on {db_name!r} (known: {', '.join(names)})")
    return TASKS[db_name][task_name]


def make_task(d: TaskDef, db: Database) -> Task:
    """Compute a task's split frames on ``db`` and wrap them in a :class:`relforge.db.task.Task`."""
    if isinstance(d, AutocompleteTaskDef):
        task = Task(name=d.name, kind=TaskKind.autocomplete, task_type=d.task_type, target_col=d.target_col,
                    table=d.table, time_col="timestamp" if db[d.table].time_col else None,
                    drop_cols=tuple(d.drop_cols), splits=d.make_splits(db))
    else:
        splits = {s: d.make_table(db, split_timestamps(db, d.horizon, s, d.num_eval_timestamps)) for s in SPLITS}
        n_ent = len(db[d.entity_table])
        for s, df in splits.items():  # relbench's filter_dangling_entities
            splits[s] = df[(df[d.entity_col] >= 0) & (df[d.entity_col] < n_ent)].reset_index(drop=True)
        task = Task(name=d.name, kind=TaskKind.forecast, task_type=d.task_type, target_col=d.target_col,
                    entity_table=d.entity_table, entity_col=d.entity_col, time_col="timestamp",
                    horizon=d.horizon, splits=splits)
    task.validate()
    return task
