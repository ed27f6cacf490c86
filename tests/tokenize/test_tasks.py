"""Autocomplete discovery filters (rt_pipeline.md §4) and task splits."""
import numpy as np
import pandas as pd

from relforge.db import Database, Table
from relforge.tokenize import autocomplete_tasks, build_cells, resolve_task
from relforge.tokenize.store import UNTIMED


def test_discovery_filters():
    n = 400
    rng = np.random.default_rng(0)
    df = pd.DataFrame({
        "id": np.arange(n),
        "good": rng.normal(size=n),
        "const": np.ones(n),
        "tiny": 1.0 + rng.normal(size=n) * 1e-6,
        "skewed": np.r_[np.ones(n - 2, bool), np.zeros(2, bool)],  # majority 99.5 %
        "flag": rng.random(n) < 0.3,
        "txt": rng.choice(["a", "b"], n),
    })
    st = build_cells(Database({"t": Table(df, "id")}, name="f"))
    got = {t.target_col: t.task_type for t in autocomplete_tasks(st)}
    assert got == {"good": "regression", "flag": "binary_classification"}


def test_timed_splits_follow_timestamps(toy_store):
    val = pd.Timestamp(toy_store.index["val_timestamp"]).value // 10**9
    test = pd.Timestamp(toy_store.index["test_timestamp"]).value // 10**9
    tm = np.asarray(toy_store["node_time"])
    seen = []
    for sp in ("train", "val", "test"):
        s = resolve_task(toy_store, "events.amount", sp).seeds
        t = tm[s]
        timed = t != UNTIMED
        if sp == "train":
            assert np.all(t[timed] < val)
        elif sp == "val":
            assert np.all((t[timed] >= val) & (t[timed] < test))
        else:
            assert np.all(t[timed] >= test)
        seen.append(s)
    allseeds = np.concatenate(seen)
    assert len(np.unique(allseeds)) == len(allseeds)


def test_static_split_is_seeded_80_10_10(toy_store):
    sizes = [len(resolve_task(toy_store, "users.vip", sp).seeds) for sp in ("train", "val", "test")]
    n = sum(sizes)
    assert n == len(toy_store.tables[toy_store.table_id("users")]) or n == toy_store.tables[toy_store.table_id("users")]["n_rows"]
    assert sizes[0] >= 0.7 * n and sizes[1] >= 1 and sizes[2] >= 1
    again = resolve_task(toy_store, "users.vip", "val").seeds
    assert np.array_equal(again, resolve_task(toy_store, "users.vip", "val").seeds)


def test_null_targets_are_never_seeds(toy_store, toy_db):
    s = resolve_task(toy_store, "users.age", "train").seeds
    u0, _ = toy_store.node_range("users")
    assert not toy_db["users"].df["age"].isna().to_numpy()[s - u0].any()
