"""Database -> :class:`CellStore`: every non-null cell becomes one token (rt_pipeline.md §1).

- Primary keys give no cell; foreign keys give graph edges (child-to-parent ``node_f2p`` and
  parent-to-child ``p2f``, children sorted by time, untimed first), never cells.
- Except in a table with nothing but keys (MovieLens ``users``: ``userId`` only; a link table such
  as Chinook's ``PlaylistTrack``): each of its rows gets one constant boolean *row cell* (column
  ``ROW_CELL``, role ``"key"``, never an autocomplete target). Attention runs between cells, so a
  row with no cell is a dead end: a MovieLens user-churn label could not reach the user's ratings
  (its parent, the user row, had no cell to attend to or through), and a model trained on that very
  task without its label history scored AUROC exactly 50 (docs/results.md, "Session 18").
  RT gives such rows nothing.
- Every other non-null, finite value gives exactly one cell: number, boolean (z-scored per
  column), datetime (z-scored with one global mean/std), or text (an id into the text vocabulary).
  Null/NaN gives nothing (no placeholder tokens). The time column is a visible datetime cell.
- Statistics come from the training period only (rows before ``val_timestamp``; see stats.py).
- A row's timestamp is its time column (seconds since epoch) whenever the table has one, whatever
  its foreign keys (RT only timestamps rows with a non-null FK: spec §6.2; we do not copy that).
- Forecast tasks (``relforge.db.task.Task`` with task frames) become extra *task tables*: one node
  per task row with a datetime cell (its cut-off) and the label cell, a foreign-key edge to its
  entity row, and a ``p2t`` edge from the entity back to it. Label statistics use the train split.

Tokenization is vectorized per column (pandas/numpy), no per-row Python; embeddings are a separate
step (:func:`embed_store`) so tokenization time can be measured without the text encoder.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.task import Task, TaskKind, TaskType
from relforge.errors import RelforgeError
from relforge.tokenize.celltypes import CellType, cell_type_of
from relforge.tokenize.embed import LazyEmbeddings, get_embedder
from relforge.tokenize.stats import ColumnStats, fit_boolean_stats, fit_datetime_stats, fit_number_stats
from relforge.tokenize.store import CellStore, MAX_F2P, UNTIMED

#: the column name of the one constant cell of each row of a keys-only table (module docstring)
ROW_CELL = "row"

SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


def _ts_seconds(ts) -> float | None:
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).value / 1e9


def _datetime_us(s: pd.Series) -> np.ndarray:
    """int64 microseconds since epoch (UTC for tz-aware), INT64_MIN for NaT."""
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_convert("UTC").dt.tz_localize(None)
    return s.to_numpy().astype("datetime64[us]").view(np.int64)


def _row_seconds(us: np.ndarray) -> np.ndarray:
    out = np.floor_divide(us, 1_000_000)
    out[us == UNTIMED] = UNTIMED
    return out


class _Vocab:
    """Text vocabulary: string -> id, first seen first."""

    def __init__(self):
        self.ids: dict[str, int] = {}

    def codes(self, s: pd.Series, valid: np.ndarray) -> np.ndarray:
        out = np.full(len(s), -1, dtype=np.int32)
        if valid.any():
            codes, uniques = pd.factorize(s[valid].astype(str), sort=False)
            ids = self.ids
            m = np.array([ids.setdefault(u, len(ids)) for u in uniques], dtype=np.int32)
            out[valid] = m[codes]
        return out

    def strings(self) -> list[str]:
        return list(self.ids)


def _key_index(df: pd.DataFrame, pkey: str | None):
    """(is_range, pandas Index) to map key values to row positions."""
    if pkey is None:
        return True, None
    pk = df[pkey]
    if pd.api.types.is_integer_dtype(pk.dtype) and len(pk) and pk.iloc[0] == 0 and pk.iloc[-1] == len(pk) - 1 \
            and np.array_equal(pk.to_numpy(), np.arange(len(pk))):
        return True, None
    return False, pd.Index(pk)


def _lookup(values: pd.Series, n_parent: int, key: tuple, what: str) -> np.ndarray:
    """Parent row positions of foreign-key ``values`` (-1 = null); RelforgeError on a dangling key."""
    is_range, idx = key
    out = np.full(len(values), -1, dtype=np.int64)
    if is_range and pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        x = values.to_numpy(dtype=np.float64, na_value=np.nan)
        valid = np.isfinite(x)
        pos = x[valid].astype(np.int64)
        bad = (pos < 0) | (pos >= n_parent) | (x[valid] != pos)
        if bad.any():
            raise RelforgeError(f"{what}: value {x[valid][int(np.argmax(bad))]!r} has no parent row")
        out[valid] = pos
        return out
    valid = values.notna().to_numpy()
    if not valid.any():
        return out
    v = values[valid]
    if is_range:
        raise RelforgeError(f"{what}: non-numeric key values for a range primary key")
    else:
        pos = idx.get_indexer(v)
        bad = pos < 0
    if bad.any():
        raise RelforgeError(f"{what}: value {v.iloc[int(np.argmax(bad))]!r} has no parent row")
    out[valid] = pos
    return out


def _column_arrays(s: pd.Series, ct: CellType) -> tuple[np.ndarray, np.ndarray]:
    """(valid mask, raw float64 values) for number/boolean/datetime columns (datetime in seconds)."""
    if ct is CellType.number:
        if s.dtype == np.float64:
            x = s.to_numpy()
        elif pd.api.types.is_bool_dtype(s.dtype):
            x = s.astype("float64").to_numpy()
        elif pd.api.types.is_numeric_dtype(s.dtype):
            x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return np.isfinite(x), x
    if ct is CellType.boolean:
        if s.dtype == np.bool_:
            x = s.to_numpy().astype(np.float64)
            return np.ones(len(x), dtype=bool), x
        try:
            x = s.astype("boolean").to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError):
            x = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            x = np.where(np.isfinite(x), (x != 0).astype(np.float64), np.nan)
        return np.isfinite(x), x
    if ct is CellType.datetime:
        us = _datetime_us(s)
        valid = us != UNTIMED
        return valid, np.where(valid, us / 1e6, np.nan)
    raise AssertionError(ct)


def build_cells(db: Database, tasks: tuple[Task, ...] | list[Task] = (), *, name: str | None = None) -> CellStore:
    """Tokenize ``db`` (and the forecast ``tasks`` attached to it) into a :class:`CellStore`
    without embeddings (``col_emb``/``text_emb`` empty; see :func:`embed_store`).

    Parameters
    ----------
    db : the database; keys must resolve (``Database.validate`` semantics).
    tasks : ``relforge.db.task.Task`` objects. Forecast tasks become task tables; autocomplete
        tasks are recorded in the index (their seeds are derived when sampling, tasks.py).
    name : store name (default ``db.name``).

    Returns
    -------
    CellStore with arrays as documented in :mod:`relforge.tokenize.store`.

    Notes
    -----
    rt_pipeline.md §1. Deviations from RT, all leak- or bug-fixes flagged in §6: statistics from the
    training period only; boolean std guarded; every row of a timed table is timestamped.
    """
    val_s = _ts_seconds(db.val_timestamp)
    names = list(db.tables)
    if not names:
        raise RelforgeError(f"database {db.name!r} has no tables")
    # ---- pass 1: row times, train masks, key indexes, datetime cells for the global stats
    offsets, n_rows, times, train = {}, {}, {}, {}
    off = 0
    plan: dict[str, list[tuple[str, CellType]]] = {}
    dt_train: list[np.ndarray] = []
    raw: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    series: dict[str, dict[str, pd.Series]] = {}
    for tn in names:
        t = db.tables[tn]
        if len(t.fkey_col_to_pkey_table) > MAX_F2P:
            raise RelforgeError(f"table {tn!r} has {len(t.fkey_col_to_pkey_table)} foreign keys; at most {MAX_F2P} are supported")
        n = len(t.df)
        series[tn] = sr = dict(t.df.items())
        offsets[tn], n_rows[tn] = off, n
        off += n
        if t.time_col is not None:
            us = _datetime_us(sr[t.time_col])
            times[tn] = _row_seconds(us)
            tr = np.ones(n, dtype=bool) if val_s is None else (us == UNTIMED) | (us / 1e6 < val_s)
        else:
            times[tn] = np.full(n, UNTIMED, dtype=np.int64)
            tr = np.ones(n, dtype=bool)
        train[tn] = tr
        keys = t.key_cols
        cols = []
        for c, s in sr.items():
            if c in keys:
                continue
            ct = cell_type_of(t.stypes.get(c, "text"), s.dtype) if c != t.time_col else CellType.datetime
            cols.append((c, ct))
            if ct is not CellType.text:
                valid, x = _column_arrays(s, ct)
                raw[(tn, c)] = (valid, x)
                if ct is CellType.datetime:
                    dt_train.append(x[valid & tr])
        plan[tn] = cols
    fc_tasks = [tk for tk in tasks if tk.kind == TaskKind.forecast]
    # forecast task cut-offs (train split) join the datetime statistics
    task_frames = []
    for tk in fc_tasks:
        tk.validate()
        if tk.entity_table not in db.tables:
            raise RelforgeError(f"task {tk.name!r}: unknown entity table {tk.entity_table!r}")
        parts, splits = [], []
        for sp in ("train", "val", "test"):
            if sp in tk.splits:
                parts.append(tk.splits[sp][[tk.entity_col, tk.time_col, tk.target_col]])
                splits.append(np.full(len(tk.splits[sp]), SPLIT_IDS[sp], dtype=np.int8))
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=[tk.entity_col, tk.time_col, tk.target_col])
        split = np.concatenate(splits) if splits else np.zeros(0, dtype=np.int8)
        us = _datetime_us(frame[tk.time_col])
        tr = split == 0
        dt_train.append((us / 1e6)[tr & (us != UNTIMED)])
        task_frames.append((tk, frame, split, us))
    dstats = fit_datetime_stats(np.concatenate(dt_train) if dt_train else np.zeros(0))

    # ---- pass 2: cells per table
    vocab = _Vocab()
    columns: list[dict] = []
    tables: list[dict] = []
    ptr_parts, col_parts, type_parts, val_parts, text_parts = [], [], [], [], []
    node_table, node_time, node_key, node_split, node_f2p = [], [], [], [], []
    edges_child, edges_parent = [], []
    key_index = {tn: _key_index(db.tables[tn].df, db.tables[tn].pkey_col) for tn in names}

    def emit(ti: int, n: int, specs: list[tuple[int, CellType, np.ndarray, np.ndarray, np.ndarray]]):
        """specs: (col id, type, valid[n], value f32[n], text i32[n]) -> row-major cells."""
        k = len(specs)
        if k == 0 or n == 0:
            ptr_parts.append(np.zeros(n, dtype=np.int64))
            return
        M = np.empty((n, k), dtype=bool)
        V = np.zeros((n, k), dtype=np.float32)
        X = np.full((n, k), -1, dtype=np.int32)
        for j, (_, _, valid, val, txt) in enumerate(specs):
            M[:, j] = valid
            if val is not None:
                V[:, j] = val
            if txt is not None:
                X[:, j] = txt
        ptr_parts.append(M.sum(1, dtype=np.int64))
        col_parts.append(np.broadcast_to(np.array([s[0] for s in specs], dtype=np.int32), (n, k))[M])
        type_parts.append(np.broadcast_to(np.array([int(s[1]) for s in specs], dtype=np.int8), (n, k))[M])
        val_parts.append(V[M])
        text_parts.append(X[M])

    for ti, tn in enumerate(names):
        t = db.tables[tn]
        n = n_rows[tn]
        specs = []
        for c, ct in plan[tn]:
            cid = len(columns)
            role = "time" if c == t.time_col else "feature"
            if ct is CellType.text:
                valid = series[tn][c].notna().to_numpy()
                txt = vocab.codes(series[tn][c], valid)
                st = ColumnStats(0.0, 1.0, int((valid & train[tn]).sum()))
                specs.append((cid, ct, valid, None, txt))
            else:
                valid, x = raw[(tn, c)]
                xt = x[valid & train[tn]]
                if ct is CellType.number:
                    st = fit_number_stats(xt)
                elif ct is CellType.boolean:
                    st = fit_boolean_stats(xt)
                else:
                    st = ColumnStats(dstats.mean, dstats.std, len(xt))
                val = np.where(valid, (x - st.mean) / st.std, 0.0).astype(np.float32)
                specs.append((cid, ct, valid, val, None))
            columns.append(dict(table=ti, name=c, type=int(ct), role=role, stats=st.to_dict()))
        if not specs and n > 0:  # keys only: one constant row cell, so that attention can pass through the row
            st = fit_boolean_stats(np.ones(int(train[tn].sum())))
            specs.append((len(columns), CellType.boolean, np.ones(n, dtype=bool),
                          np.full(n, (1.0 - st.mean) / st.std, dtype=np.float32), None))
            columns.append(dict(table=ti, name=ROW_CELL, type=int(CellType.boolean), role="key", stats=st.to_dict()))
        emit(ti, n, specs)
        node_table.append(np.full(n, ti, dtype=np.int32))
        node_time.append(times[tn])
        pk = t.pkey_col
        if pk is not None and pd.api.types.is_integer_dtype(t.df[pk].dtype):
            node_key.append(t.df[pk].to_numpy(dtype=np.int64))
        else:
            node_key.append(np.arange(n, dtype=np.int64))
        node_split.append(np.full(n, -1, dtype=np.int8))
        f2p = np.full((n, MAX_F2P), -1, dtype=np.int32)
        for j, (fc, parent) in enumerate(t.fkey_col_to_pkey_table.items()):
            if parent not in db.tables:
                raise RelforgeError(f"table {tn!r}: foreign key {fc!r} references unknown table {parent!r}")
            rows = _lookup(series[tn][fc], n_rows[parent], key_index[parent], f"table {tn!r} foreign key {fc!r}")
            has = rows >= 0
            pnode = np.where(has, rows + offsets[parent], -1)
            child = np.arange(n, dtype=np.int64) + offsets[tn]
            f2p[:, j] = pnode
            keep = has & (pnode != child)
            edges_child.append(child[keep])
            edges_parent.append(pnode[keep])
        node_f2p.append(f2p)
        tables.append(dict(name=tn, offset=offsets[tn], n_rows=n, pkey_col=t.pkey_col,
                           fkeys=dict(t.fkey_col_to_pkey_table), time_col=t.time_col, is_task=False))

    # ---- forecast task tables
    task_index = []
    off = sum(n_rows.values())
    task_child, task_parent = [], []
    for tk, frame, split, us in task_frames:
        ti = len(tables)
        tname = f"task:{tk.name}"
        n = len(frame)
        ent = tk.entity_table
        rows = _lookup(frame[tk.entity_col], n_rows[ent], key_index[ent], f"task {tk.name!r} entity column {tk.entity_col!r}")
        if (rows < 0).any():
            raise RelforgeError(f"task {tk.name!r}: null entity in column {tk.entity_col!r}")
        ct = CellType.boolean if tk.task_type == TaskType.binary_classification else CellType.number
        valid_y, y = _column_arrays(frame[tk.target_col], ct)
        st = (fit_boolean_stats if ct is CellType.boolean else fit_number_stats)(y[valid_y & (split == 0)])
        valid_t = us != UNTIMED
        tcid, ycid = len(columns), len(columns) + 1
        columns.append(dict(table=ti, name=tk.time_col, type=int(CellType.datetime), role="time",
                            stats=ColumnStats(dstats.mean, dstats.std, int((valid_t & (split == 0)).sum())).to_dict()))
        columns.append(dict(table=ti, name=tk.target_col, type=int(ct), role="label", stats=st.to_dict()))
        emit(ti, n, [(tcid, CellType.datetime, valid_t, np.where(valid_t, (us / 1e6 - dstats.mean) / dstats.std, 0).astype(np.float32), None),
                     (ycid, ct, valid_y, np.where(valid_y, (y - st.mean) / st.std, 0).astype(np.float32), None)])
        node_table.append(np.full(n, ti, dtype=np.int32))
        node_time.append(_row_seconds(us))
        node_key.append(np.arange(n, dtype=np.int64))
        node_split.append(split)
        f2p = np.full((n, MAX_F2P), -1, dtype=np.int32)
        f2p[:, 0] = rows + offsets[ent]
        node_f2p.append(f2p)
        task_child.append(np.arange(n, dtype=np.int64) + off)
        task_parent.append(rows + offsets[ent])
        tables.append(dict(name=tname, offset=off, n_rows=n, pkey_col=None, fkeys={tk.entity_col: ent},
                           time_col=tk.time_col, is_task=True))
        horizon = 0 if tk.horizon is None else int(pd.Timedelta(tk.horizon).total_seconds())
        task_index.append(dict(name=tk.name, kind=TaskKind.forecast, task_type=tk.task_type, table=tname,
                               entity_table=ent, target_col=tk.target_col, time_col=tk.time_col,
                               horizon_s=horizon, drop_cols=list(tk.drop_cols)))
        off += n
    for tk in tasks:
        if tk.kind == TaskKind.autocomplete:
            tk.validate()
            task_index.append(dict(name=tk.name, kind=TaskKind.autocomplete, task_type=tk.task_type, table=tk.table,
                                   target_col=tk.target_col, drop_cols=list(tk.drop_cols)))

    # ---- assemble
    counts = np.concatenate(ptr_parts) if ptr_parts else np.zeros(0, dtype=np.int64)
    cell_ptr = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=cell_ptr[1:])
    cat = lambda parts, dt: np.concatenate(parts).astype(dt, copy=False) if parts else np.zeros(0, dtype=dt)  # noqa: E731
    node_time_a = cat(node_time, np.int64)
    N = len(node_time_a)
    p2f_ptr, p2f_child = _adjacency(cat(edges_parent, np.int64), cat(edges_child, np.int64), node_time_a, None, N)
    node_table_a = cat(node_table, np.int32)
    p2t_ptr, p2t_child = _adjacency(cat(task_parent, np.int64), cat(task_child, np.int64), node_time_a, node_table_a, N)
    for i, tb in enumerate(tables):
        a, b = tb["offset"], tb["offset"] + tb["n_rows"]
        tb["max_cells"] = int(counts[a:b].max()) if b > a else 0
    arrays = dict(
        cell_ptr=cell_ptr, cell_col=cat(col_parts, np.int32), cell_type=cat(type_parts, np.int8),
        cell_value=cat(val_parts, np.float32), cell_text=cat(text_parts, np.int32),
        node_table=node_table_a, node_time=node_time_a, node_key=cat(node_key, np.int64),
        node_split=cat(node_split, np.int8),
        node_f2p=np.concatenate(node_f2p).astype(np.int32) if node_f2p else np.zeros((0, MAX_F2P), np.int32),
        p2f_ptr=p2f_ptr, p2f_child=p2f_child, p2t_ptr=p2t_ptr, p2t_child=p2t_child,
        col_emb=np.zeros((len(columns), 0), np.float32), text_emb=np.zeros((len(vocab.ids), 0), np.float32),
    )
    iso = lambda ts: None if ts is None or pd.isna(ts) else pd.Timestamp(ts).isoformat()  # noqa: E731
    index = dict(name=name or db.name, n_nodes=N, n_cells=int(cell_ptr[-1]), n_texts=len(vocab.ids),
                 tables=tables, columns=columns,
                 tasks=task_index, datetime_stats=dstats.to_dict(), val_timestamp=iso(db.val_timestamp),
                 test_timestamp=iso(db.test_timestamp), embedder=None)
    return CellStore(index, arrays, vocab.strings())


def _adjacency(parent: np.ndarray, child: np.ndarray, node_time: np.ndarray, node_table, n: int):
    """CSR parent -> children, each list sorted by child time (untimed first), then (for task
    edges) grouped by child table first, ties by child id."""
    if node_table is None:
        order = np.lexsort((child, node_time[child], parent))
    else:
        order = np.lexsort((child, node_time[child], node_table[child], parent))
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(parent, minlength=n), out=ptr[1:])
    return ptr, child[order].astype(np.int32)


def column_texts(store: CellStore) -> list[str]:
    """The column-name strings embedded for ``col_emb``: ``"<column> of <table>"`` (spec §1)."""
    tabs = store.tables
    return [f"{c['name']} of {tabs[c['table']]['name'].removeprefix('task:')}" for c in store.columns]


def embed_store(store: CellStore, embedder, progress=None, lazy: bool = False) -> CellStore:
    """Fill ``col_emb`` (column names) and ``text_emb`` (text values) with ``embedder``; returns a
    new in-memory CellStore (arrays shared). ``progress``: a :class:`relforge.progress.Progress`.

    ``lazy``: ``text_emb`` is a :class:`relforge.tokenize.embed.LazyEmbeddings` that embeds a text
    when a context first reads it (prediction reads a small part of a text-heavy database); the
    MiniLM embeddings also go through the on-disk cache (:class:`relforge.tokenize.embed.DiskCache`).
    """
    emb = get_embedder(embedder)
    arrays = {k: store.arrays[k] for k in store.arrays}
    arrays["col_emb"] = emb.encode(column_texts(store)).astype(np.float32)
    texts = store.get_texts()
    if lazy:
        arrays["text_emb"] = LazyEmbeddings(texts, emb, progress)
    else:
        arrays["text_emb"] = emb.encode(texts).astype(np.float32) if texts else np.zeros((0, emb.dim), np.float32)
    index = dict(store.index, embedder=emb.describe())
    return CellStore(index, arrays, texts)


def code_fingerprint() -> str:
    """Hash of the source that decides what a store holds (this tokenizer, the cell types and
    statistics, the store format, the database containers): caches of stores carry it."""
    import sys

    import relforge.db
    from relforge.fileio import source_fingerprint
    from relforge.tokenize import celltypes, stats, store

    return source_fingerprint(sys.modules[__name__], celltypes, stats, store, relforge.db)


def tokenize_database(db: Database, tasks=(), embedder="minilm", *, name: str | None = None,
                      progress=None, lazy: bool = False) -> CellStore:
    """Tokenize and embed: :func:`build_cells` then :func:`embed_store` (rt_pipeline.md §1)."""
    store = build_cells(db, tasks, name=name)
    if progress is not None:
        progress.done("tokenize", f"{store.index['n_nodes']:,} rows, {store.index['n_cells']:,} cells, "
                                  f"{store.index['n_texts']:,} distinct texts")
    return embed_store(store, embedder, progress, lazy=lazy)
