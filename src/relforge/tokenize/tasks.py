"""Tasks for the context sampler: which rows are seeds, which cell is the target, what is hidden.

- **Autocomplete** (any database): mask one number/boolean feature column of one table. Discovery
  (:func:`autocomplete_tasks`) keeps a column when its training-period values have at least two
  distinct values, a majority value share <= 99 % and (numbers) a sample std >= 1e-4
  (rt_pipeline.md §4; the PluRel filter). Seeds are the rows with a non-null target; timed rows
  split at the store's val/test timestamps (train < val <= val-split < test <= test-split),
  static or untimed rows by a seeded 80/10/10 permutation.
- **Forecast**: a task table tokenized with the database (cells.py); seeds are the task rows of
  the split, the label cell is the target, the cut-off timestamp cell is visible.

:func:`resolve_task` checks everything the user can get wrong and raises one-line
:class:`RelforgeError` messages (unknown table/column, key or text target, empty table, no seeds,
``ctx_len`` smaller than one row).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from relforge.db.task import Task, TaskKind, TaskType
from relforge.errors import RelforgeError
from relforge.rng import child
from relforge.tokenize.celltypes import CellType, TARGET_TYPES
from relforge.tokenize.store import CellStore, UNTIMED

SPLITS = ("train", "val", "test")
SPLIT_IDS = {s: i for i, s in enumerate(SPLITS)}
MIN_STD = 1e-4  # rt_pipeline.md §4 task filter
MAX_MAJORITY = 0.99


@dataclass
class SamplerTask:
    """A task resolved against one store and split: everything the sampler kernel needs.

    ``seeds`` are node ids; ``drop`` is a bool mask over the store's columns; ``task_table`` is the
    forecast task table id (-1 for autocomplete); ``label_delay_s`` is how long after its cut-off a
    task row's label is known (the task horizon).
    """

    store: CellStore
    name: str
    kind: str
    task_type: str
    split: str
    table: int
    target_col: int
    seeds: np.ndarray
    drop: np.ndarray
    task_table: int = -1
    label_delay_s: int = 0
    peers: np.ndarray | None = None  # autocomplete: training rows with a target, sorted by time (in-context examples)

    @property
    def n_seeds(self) -> int:
        return int(len(self.seeds))


def autocomplete_tasks(store: CellStore, tables: list[str] | None = None) -> list[Task]:
    """Autocomplete tasks of a store's database: every number/boolean feature column passing the
    filters (see module doc), as :class:`relforge.db.task.Task` (kind ``"autocomplete"``)."""
    out = []
    for c in store.columns:
        t = store.tables[c["table"]]
        if t["is_task"] or c["role"] != "feature" or (tables is not None and t["name"] not in tables):
            continue
        ct = CellType(c["type"])
        if ct not in TARGET_TYPES or t["n_rows"] == 0:
            continue
        s = c["stats"]
        if s["n_distinct"] < 2 or (s["majority"] is None or s["majority"] > MAX_MAJORITY):
            continue
        if ct is CellType.number and not (s["raw_std"] is not None and s["raw_std"] >= MIN_STD):
            continue
        tt = TaskType.binary_classification if ct is CellType.boolean else TaskType.regression
        out.append(Task(name=f"{t['name']}.{c['name']}", kind=TaskKind.autocomplete, task_type=tt, target_col=c["name"],
                        table=t["name"], time_col=t["time_col"]))
    return out


def store_tasks(store: CellStore) -> list[str]:
    """Names of the tasks recorded in the store's index (forecast and declared autocomplete)."""
    return [t["name"] for t in store.index["tasks"]]


def _drop_mask(store: CellStore, drop_cols, home: list[int]) -> np.ndarray:
    """Bool mask over store columns for ``drop_cols`` names: ``table.column``, or a bare column name
    looked up in the ``home`` tables first, then in every table."""
    mask = np.zeros(len(store.columns), dtype=np.uint8)
    for name in drop_cols:
        hits = []
        if "." in name:
            tn, cn = name.split(".", 1)
            if tn in {t["name"] for t in store.tables}:
                hits = [store.col_id(tn, cn)]
        if not hits:
            for ti in home:
                hits = [i for i, c in enumerate(store.columns) if c["table"] == ti and c["name"] == name]
                if hits:
                    break
        if not hits:
            hits = [i for i, c in enumerate(store.columns) if c["name"] == name and not store.tables[c["table"]]["is_task"]]
        if not hits:
            raise RelforgeError(f"drop column {name!r} is not a (non-key) column of store {store.name!r}")
        mask[hits] = 1
    return mask


def _split_of_rows(store: CellStore, ti: int, nodes: np.ndarray) -> np.ndarray:
    """Split id (0/1/2) of database rows ``nodes`` of table ``ti`` (see module doc)."""
    t = store.tables[ti]
    off, n = int(t["offset"]), int(t["n_rows"])
    out = np.empty(len(nodes), dtype=np.int8)
    times = np.asarray(store["node_time"][nodes])
    val, test = store.index["val_timestamp"], store.index["test_timestamp"]
    timed = times != UNTIMED
    if val is not None:
        v = pd.Timestamp(val).value // 10**9
        te = pd.Timestamp(test).value // 10**9 if test is not None else np.iinfo(np.int64).max
        out[timed] = np.where(times[timed] < v, 0, np.where(times[timed] < te, 1, 2))
    else:
        timed[:] = False
    if (~timed).any():
        rank = np.empty(n, dtype=np.int64)
        rank[child(0, "autocomplete-split", store.name, t["name"]).permutation(n)] = np.arange(n)
        r = rank[nodes[~timed] - off]
        out[~timed] = np.where(r < 0.8 * n, 0, np.where(r < 0.9 * n, 1, 2))
    return out


def resolve_task(store: CellStore, task: str | Task | dict, split: str = "train", *, ctx_len: int | None = None) -> SamplerTask:
    """Resolve a task against ``store`` for ``split``.

    Parameters
    ----------
    store : the tokenized database.
    task : a task name recorded in the store (``relforge tokenize`` with tasks), a ``"table.column"``
        autocomplete shorthand, a :class:`relforge.db.task.Task`, or a dict with ``table``,
        ``target_col`` and optionally ``drop_cols``.
    split : ``"train"``, ``"val"`` or ``"test"``.
    ctx_len : when given, refuse a context length smaller than the widest seed row.
    """
    if split not in SPLIT_IDS:
        raise RelforgeError(f"unknown split {split!r} (use train, val or test)")
    rec = None
    if isinstance(task, Task):
        rec = dict(name=task.name, kind=task.kind, task_type=task.task_type, table=task.table,
                   target_col=task.target_col, drop_cols=list(task.drop_cols))
        if task.kind == TaskKind.forecast:
            rec = next((r for r in store.index["tasks"] if r["name"] == task.name and r["kind"] == TaskKind.forecast), None)
            if rec is None:
                raise RelforgeError(f"forecast task {task.name!r} was not tokenized into store {store.name!r}")
    elif isinstance(task, dict):
        rec = {"kind": TaskKind.autocomplete, "drop_cols": [], **task}
        rec.setdefault("name", f"{rec['table']}.{rec['target_col']}")
    else:
        rec = next((r for r in store.index["tasks"] if r["name"] == task), None)
        if rec is None:
            if "." not in task:
                known = ", ".join(store_tasks(store)) or "none"
                raise RelforgeError(f"unknown task {task!r} for store {store.name!r} (tasks: {known}; or use table.column)")
            tn, cn = task.split(".", 1)
            rec = dict(name=task, kind=TaskKind.autocomplete, table=tn, target_col=cn, drop_cols=[])
    if rec["kind"] == TaskKind.forecast:
        ti = store.table_id(rec["table"])
        tc = store.col_id(rec["table"], rec["target_col"])
        a, b = store.node_range(ti)
        seeds = a + np.nonzero(np.asarray(store["node_split"][a:b]) == SPLIT_IDS[split])[0]
        seeds = _with_target(store, seeds, tc)
        home = [ti, store.table_id(rec["entity_table"])]
        out = SamplerTask(store, rec["name"], TaskKind.forecast, rec["task_type"], split, ti, tc, seeds,
                          _drop_mask(store, rec.get("drop_cols", []), home), ti, int(rec.get("horizon_s", 0)))
    else:
        ti = store.table_id(rec["table"])
        tc = store.col_id(rec["table"], rec["target_col"])
        ct = CellType(store.columns[tc]["type"])
        if ct not in TARGET_TYPES:
            raise RelforgeError(f"column {rec['target_col']!r} of table {rec['table']!r} is {ct.name}; "
                                "only number and boolean columns can be targets")
        if store.tables[ti]["n_rows"] == 0:
            raise RelforgeError(f"table {rec['table']!r} is empty")
        a, b = store.node_range(ti)
        rows = _with_target(store, np.arange(a, b), tc)
        split_of = _split_of_rows(store, ti, rows)
        seeds = rows[split_of == SPLIT_IDS[split]]
        peers = by_time(store, rows[split_of == SPLIT_IDS["train"]])
        tt = rec.get("task_type") or (TaskType.binary_classification if ct is CellType.boolean else TaskType.regression)
        out = SamplerTask(store, rec["name"], TaskKind.autocomplete, tt, split, ti, tc, seeds,
                          _drop_mask(store, rec.get("drop_cols", []), [ti]), peers=peers)
    if out.n_seeds == 0:
        raise RelforgeError(f"task {out.name!r} has no {split} rows with a non-null target in store {store.name!r}")
    if out.drop[out.target_col]:
        raise RelforgeError(f"task {out.name!r}: the target column is also a drop column")
    if ctx_len is not None:
        w = int(store.tables[out.table]["max_cells"])
        if ctx_len < max(w, 1):
            raise RelforgeError(f"ctx_len {ctx_len} is smaller than one row of table {store.tables[out.table]['name']!r} ({w} cells)")
    return out


def by_time(store: CellStore, nodes: np.ndarray) -> np.ndarray:
    """``nodes`` in time order (untimed first, ties kept): the order the sampler needs for peers."""
    return nodes[np.argsort(np.asarray(store["node_time"][nodes]), kind="stable")]


def _with_target(store: CellStore, nodes: np.ndarray, tc: int) -> np.ndarray:
    """The subset of ``nodes`` (sorted, contiguous within one table) that have a cell in column ``tc``."""
    if len(nodes) == 0:
        return nodes.astype(np.int64)
    ptr = store["cell_ptr"]
    ca, cb = int(ptr[nodes[0]]), int(ptr[nodes[-1] + 1])
    hit = np.nonzero(np.asarray(store["cell_col"][ca:cb]) == tc)[0] + ca
    owner = np.searchsorted(np.asarray(ptr[nodes[0]: nodes[-1] + 2]), hit, side="right") - 1 + nodes[0]
    return np.intersect1d(owner, nodes).astype(np.int64)


def read_relbench_tasks(path: str | Path) -> list[Task]:
    """Forecast tasks in relbench layout: ``PATH/tasks/<name>/{train,val,test}.parquet`` whose parquet
    metadata names the entity column (``fkey_col_to_pkey_table``) and ``time_col``; the one
    remaining column is the label (0/1 or bool -> classification, else regression)."""
    import json

    import pyarrow.parquet as pq

    root = Path(path) / "tasks"
    out = []
    if not root.is_dir():
        return out
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        splits, meta = {}, None
        for sp in SPLITS:
            f = d / f"{sp}.parquet"
            if f.is_file():
                tab = pq.read_table(f)
                md = {k.decode(): v.decode() for k, v in (tab.schema.metadata or {}).items()}
                meta = meta or md
                splits[sp] = tab.to_pandas()
        if not splits or not meta or "fkey_col_to_pkey_table" not in meta:
            continue
        fk = json.loads(meta["fkey_col_to_pkey_table"])
        time_col = json.loads(meta.get("time_col", "null"))
        if len(fk) != 1 or time_col is None:
            continue  # link-prediction tasks (two entity columns) are not forecast tasks
        (ecol, etab), = fk.items()
        df = splits.get("train", next(iter(splits.values())))
        rest = [c for c in df.columns if c not in (ecol, time_col)]
        if len(rest) != 1:
            continue
        y = df[rest[0]].dropna()
        is_clf = pd.api.types.is_bool_dtype(y.dtype) or (len(y) and set(np.unique(y.to_numpy())) <= {0, 1})
        out.append(Task(name=d.name, kind=TaskKind.forecast, task_type=TaskType.binary_classification if is_clf else TaskType.regression,
                        target_col=rest[0], entity_table=etab, entity_col=ecol, time_col=time_col, splits=splits))
    return out
