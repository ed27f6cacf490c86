"""Tokenization invariants (rt_pipeline.md §1): one token per non-null non-key cell, keys as edges,
training-period statistics, guarded degenerate columns."""
import numpy as np
import pandas as pd
import pytest

from relforge.db import Database, Table
from relforge.errors import RelforgeError
from relforge.tokenize import CellType, build_cells
from relforge.tokenize.store import UNTIMED

from tok_helpers import make_db, make_forecast_task


def _col(store, table, col):
    return store.col_id(table, col)


def _cells_of(store, table, col):
    cid = _col(store, table, col)
    return np.asarray(store["cell_value"])[np.asarray(store["cell_col"]) == cid]


def test_one_token_per_non_null_non_key_cell(toy_db):
    st = build_cells(toy_db)
    expected = 0
    for t in toy_db.tables.values():
        feats = [c for c in t.df.columns if c not in t.key_cols]
        expected += int(t.df[feats].notna().to_numpy().sum())
    assert st.n_cells == expected
    # per row too, and keys never appear as columns
    ev = toy_db["events"]
    a, b = st.node_range("events")
    counts = np.diff(np.asarray(st["cell_ptr"]))[a:b]
    assert np.array_equal(counts, ev.df[["date", "amount", "clicked", "channel"]].notna().sum(axis=1).to_numpy())
    names = {(st.tables[c["table"]]["name"], c["name"]) for c in st.columns}
    assert ("events", "user_id") not in names and ("events", "event_id") not in names


def test_foreign_keys_become_edges_sorted_by_time(toy_db):
    st = build_cells(toy_db)
    f2p = np.asarray(st["node_f2p"])
    a, b = st.node_range("events")
    ev = toy_db["events"].df
    u0, _ = st.node_range("users")
    assert np.array_equal(f2p[a:b, 0], ev["user_id"].to_numpy() + u0)
    camp = ev["camp_id"]
    c0, _ = st.node_range("campaigns")
    assert np.array_equal(f2p[a:b, 2], np.where(camp.isna(), -1, camp.fillna(0).to_numpy(dtype=np.int64) + c0))
    # p2f: every f2p edge appears once under its parent, children sorted by time (untimed first)
    ptr, ch, tm = np.asarray(st["p2f_ptr"]), np.asarray(st["p2f_child"]), np.asarray(st["node_time"])
    n_edges = int((f2p >= 0).sum())
    assert len(ch) == n_edges
    for p in range(st.n_nodes):
        kids = ch[ptr[p]:ptr[p + 1]]
        assert np.all(tm[kids][1:] >= tm[kids][:-1])
        for k in kids:
            assert p in f2p[k]


def test_row_timestamps_are_time_column_seconds(toy_db):
    st = build_cells(toy_db)
    a, b = st.node_range("events")
    d = toy_db["events"].df["date"]
    tm = np.asarray(st["node_time"])[a:b]
    assert np.all(tm[d.isna().to_numpy()] == UNTIMED)
    ok = d.notna().to_numpy()
    assert np.array_equal(tm[ok], (d[ok].astype("datetime64[s]").astype("int64")).to_numpy())
    u0, u1 = st.node_range("users")
    assert np.all(np.asarray(st["node_time"])[u0:u1] == UNTIMED)


def test_stats_use_training_period_only(toy_db):
    st = build_cells(toy_db)
    ev = toy_db["events"].df
    train = ~(ev["date"] >= toy_db.val_timestamp)  # untimed (NaT) rows are visible to all: they count
    x = ev.loc[train, "amount"].dropna()
    s = st.columns[_col(st, "events", "amount")]["stats"]
    assert s["mean"] == pytest.approx(x.mean()) and s["std"] == pytest.approx(x.std(ddof=1))
    # changing val/test values leaves the statistics (and the training cells) unchanged
    ev2 = ev.copy()
    ev2.loc[~train & ev2["date"].notna(), "amount"] = 1e6
    db2 = Database({**toy_db.tables, "events": Table(ev2, "event_id", toy_db["events"].fkey_col_to_pkey_table, "date")},
                   toy_db.val_timestamp, toy_db.test_timestamp, toy_db.name)
    st2 = build_cells(db2)
    assert st2.columns[_col(st2, "events", "amount")]["stats"] == s
    assert st2.index["datetime_stats"] == st.index["datetime_stats"]
    # and a training value does change them
    ev3 = ev.copy()
    ev3.loc[train[train].index[0], "amount"] = 1e6
    db3 = Database({**toy_db.tables, "events": Table(ev3, "event_id", toy_db["events"].fkey_col_to_pkey_table, "date")},
                   toy_db.val_timestamp, toy_db.test_timestamp, toy_db.name)
    assert build_cells(db3).columns[_col(st, "events", "amount")]["stats"]["mean"] != s["mean"]


def test_normalization_values(toy_db):
    st = build_cells(toy_db)
    s = st.columns[_col(st, "users", "age")]["stats"]
    age = toy_db["users"].df["age"].dropna().to_numpy()
    assert np.allclose(_cells_of(st, "users", "age"), (age - s["mean"]) / s["std"], atol=1e-5)
    # booleans: z-scored, positive exactly for True (label rule target > 0)
    v = _cells_of(st, "events", "clicked")
    assert np.array_equal(v > 0, toy_db["events"].df["clicked"].to_numpy())
    # datetimes: one global mean/std (population) over training-period datetime cells
    ds = st.index["datetime_stats"]
    secs = []
    for t in toy_db.tables.values():
        for c in t.df.columns:
            if pd.api.types.is_datetime64_any_dtype(t.df[c].dtype) and c not in t.key_cols:
                m = t.df[c].notna()
                if t.time_col is not None:
                    m &= ~(t.df[t.time_col] >= toy_db.val_timestamp)
                secs.append(t.df.loc[m, c].astype("datetime64[us]").astype("int64").to_numpy() / 1e6)
    secs = np.concatenate(secs)
    assert ds["mean"] == pytest.approx(secs.mean()) and ds["std"] == pytest.approx(secs.std(ddof=0))
    # types
    types = {c["name"]: CellType(c["type"]) for c in st.columns if st.tables[c["table"]]["name"] == "users"}
    assert types == {"age": CellType.number, "vip": CellType.boolean, "country": CellType.text,
                     "signup": CellType.datetime, "const": CellType.number}


def test_degenerate_columns_are_guarded():
    df = pd.DataFrame({"id": np.arange(4), "flag": [True] * 4, "one": [3.0] * 4, "empty": [np.nan] * 4})
    st = build_cells(Database({"t": Table(df, "id", {}, None)}, name="deg"))
    for col in ("flag", "one"):
        assert np.all(np.isfinite(_cells_of(st, "t", col)))
    assert np.all(_cells_of(st, "t", "flag") > 0)  # all True -> still labelled True
    assert np.all(_cells_of(st, "t", "one") == 0)
    assert len(_cells_of(st, "t", "empty")) == 0  # nulls give no token


def test_forecast_task_table(toy_db):
    task = make_forecast_task(toy_db)
    st = build_cells(toy_db, [task])
    ti = st.table_id("task:user-active")
    a, b = st.node_range(ti)
    n = sum(len(f) for f in task.splits.values())
    assert b - a == n
    f2p = np.asarray(st["node_f2p"])[a:b]
    u0, _ = st.node_range("users")
    tr = task.splits["train"]
    assert np.array_equal(f2p[: len(tr), 0], tr["user_id"].to_numpy() + u0)
    assert np.all(f2p[:, 1:] == -1)
    split = np.asarray(st["node_split"])[a:b]
    assert list(np.bincount(split)) == [len(task.splits[s]) for s in ("train", "val", "test")]
    # label statistics come from the train split only
    s = st.columns[st.col_id("task:user-active", "active")]["stats"]
    assert s["mean"] == pytest.approx(tr["active"].mean())
    # entities point back at their task rows (p2t), never through the database child list
    ptr, ch = np.asarray(st["p2t_ptr"]), np.asarray(st["p2t_child"])
    assert len(ch) == n and np.all((ch >= a) & (ch < b))
    assert not np.isin(np.asarray(st["p2f_child"]), np.arange(a, b)).any()


def test_too_many_foreign_keys_and_dangling_keys_are_refused():
    p = pd.DataFrame({"id": np.arange(3)})
    c = pd.DataFrame({"id": np.arange(3), **{f"f{i}": np.arange(3) for i in range(6)}})
    db = Database({"p": Table(p, "id"), "c": Table(c, "id", {f"f{i}": "p" for i in range(6)})}, name="x")
    with pytest.raises(RelforgeError, match="foreign keys"):
        build_cells(db)
    c2 = pd.DataFrame({"id": np.arange(3), "f": [0, 1, 7]})
    with pytest.raises(RelforgeError, match="no parent row"):
        build_cells(Database({"p": Table(p, "id"), "c": Table(c2, "id", {"f": "p"})}, name="y"))


def test_non_range_keys_are_mapped():
    p = pd.DataFrame({"code": ["b", "a", "c"], "v": [1.0, 2.0, 3.0]})
    c = pd.DataFrame({"id": [10, 30, 20], "code": ["a", "c", None], "w": [1.0, 2.0, 3.0]})
    st = build_cells(Database({"p": Table(p, "code"), "c": Table(c, "id", {"code": "p"})}, name="k"))
    a, _ = st.node_range("c")
    p0, _ = st.node_range("p")
    assert list(np.asarray(st["node_f2p"])[a:a + 3, 0]) == [p0 + 1, p0 + 2, -1]
    assert list(np.asarray(st["node_key"])[a:a + 3]) == [10, 30, 20]


def test_same_database_same_store():
    a, b = build_cells(make_db(3)), build_cells(make_db(3))
    assert a.index == b.index and a.get_texts() == b.get_texts()
    for k in a.arrays:
        assert np.array_equal(a[k], b[k])
