"""Synthetic forecast tasks (relforge.generate.tasks): labels from the window only, contexts from
rows up to the cut-off only, the real tasks' definitions reproduced, deterministic per seed."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import relforge
from relforge.generate.tasks import ForecastTaskConfig, draw_forecast_tasks, forecast_tasks, task_frames

GEN = {"schema": {"n_tables": (4, 6), "entity_rows": (60, 120), "activity_rows": (300, 600), "n_features": (3, 6)}}
CFG = ForecastTaskConfig(n_tasks=6, max_train_cutoffs=6, n_eval_cutoffs=3)


def _db(seed: int):
    return relforge.synthesize(seed=seed, config=GEN)


@pytest.fixture(scope="module")
def drawn():
    """(db, [(task, spec)]) for a few databases; every kind appears at least once."""
    out = []
    for s in range(6):
        db = _db(s)
        out.append((db, draw_forecast_tasks(db, s, CFG)))
    kinds = {sp["kind"] for _, ts in out for _, sp in ts}
    assert kinds == {"churn", "any", "count", "sum", "mean"}, kinds
    return out


def _brute_force(db, spec, t, e):
    """(row exists, label) for cut-off ``t`` and entity key ``e``: one Python pass over the raw rows."""
    a = db.tables[spec["activity"]]
    h, lb = pd.Timedelta(spec["horizon"]), spec["lookback"]
    times = a.df[a.time_col].tolist()
    keys = a.df[spec["fkey"]].tolist()
    col = a.df[spec["column"]].tolist() if spec["column"] else None
    past, window = [], []
    for i, (ti, k) in enumerate(zip(times, keys)):
        if pd.isna(k) or pd.isna(ti) or int(k) != e:
            continue
        if ti <= t and (lb is None or ti > t - lb):
            past.append(i)
        if t < ti <= t + h:
            window.append(i)
    vals = [col[i] for i in window if col is not None and not pd.isna(col[i])]
    kind = spec["kind"]
    if kind == "churn":
        return bool(past), int(not window)
    if kind == "count":
        return bool(past), float(len(window))
    if kind == "sum":
        return bool(past), float(sum(vals))
    if kind == "mean":
        return bool(vals), (float(np.mean(vals)) if vals else None)
    hit = [bool(v) if spec["is_flag"] else float(v) > spec["threshold"] for v in vals]
    return bool(vals), int(any(hit))


def test_labels_and_rows_match_a_brute_force_recomputation(drawn):
    checked = 0
    for db, tasks in drawn[:3]:
        for task, spec in tasks:
            ent = db.tables[spec["entity"]]
            for split in ("train", "test"):
                f = task.splits[split]
                have = {(ts, int(e)): y for ts, e, y in zip(f["timestamp"], f[task.entity_col], f[task.target_col])}
                cuts = sorted(set(f["timestamp"]))[:2]  # two cut-offs per split, every entity
                for t in cuts:
                    for e in ent.df[ent.pkey_col].tolist():
                        exists, label = _brute_force(db, spec, t, int(e))
                        assert ((t, int(e)) in have) == exists, (task.name, split, t, e)
                        if exists:
                            assert have[(t, int(e))] == pytest.approx(label, rel=1e-9, abs=1e-9), (task.name, t, e)
                            checked += 1
    assert checked > 200


def test_labels_use_only_the_window(drawn):
    """Values of rows outside (t, t + h] (kept times and keys) leave the labels at t unchanged;
    values inside the window change some of them."""
    db, tasks = next((d, ts) for d, ts in drawn if any(sp["column"] for _, sp in ts))
    for task, spec in tasks:
        if spec["column"] is None or spec["is_flag"]:
            continue
        t0 = task.splits["test"]["timestamp"].min()
        h = pd.Timedelta(spec["horizon"])
        cut = {"test": [t0]}
        base = task_frames(db, spec, cut)["test"]
        a = db.tables[spec["activity"]]
        tt = a.df[a.time_col]
        for where, should_change in (((tt <= t0) | (tt > t0 + h), False), ((tt > t0) & (tt <= t0 + h), True)):
            bad = db.copy() if hasattr(db, "copy") else _copy(db)
            x = pd.to_numeric(bad.tables[spec["activity"]].df[spec["column"]], errors="coerce")
            bad.tables[spec["activity"]].df[spec["column"]] = np.where(where, x * 3.0 + 1000.0, x)
            got = task_frames(bad, spec, cut)["test"]
            # labels are window sums of prefix sums: values far outside the window may move them by
            # float rounding (1e-11 here), never by more
            lab = task.target_col
            same = got.drop(columns=lab).equals(base.drop(columns=lab)) and np.allclose(
                got[lab].to_numpy(float), base[lab].to_numpy(float), rtol=1e-9, atol=1e-9)
            assert same != should_change, (task.name, should_change)
        return
    raise AssertionError("no task over a number column")


def _copy(db):
    import copy

    return copy.deepcopy(db)


def test_real_task_definitions_are_reproduced(real_data_dir):
    """The generator's definitions, pointed at Chinook's and MovieLens's tables with the real tasks'
    horizons and cut-offs, give the real task tables (realdata/tasks.py SQL) row for row."""
    from relforge import realdata
    from relforge.realdata.tasks import split_timestamps

    cases = [
        ("chinook", "customer-churn", dict(kind="churn", entity="Customer", activity="Invoice", fkey="CustomerId",
                                           column=None, lookback=None)),
        ("chinook", "customer-spend", dict(kind="sum", entity="Customer", activity="Invoice", fkey="CustomerId",
                                           column="Total", lookback=None)),
        ("movielens", "user-churn", dict(kind="churn", entity="users", activity="ratings", fkey="userId", column=None,
                                         lookback=pd.Timedelta(days=365))),
        ("movielens", "user-mean-rating", dict(kind="mean", entity="users", activity="ratings", fkey="userId",
                                               column="rating", lookback=None)),
    ]
    dbs = {}
    for dbn, tn, spec in cases:
        db = dbs.setdefault(dbn, realdata.load(dbn, real_data_dir))
        real = realdata.get_task(dbn, tn, db=db)
        spec = dict(spec, horizon=real.horizon, is_flag=False, threshold=None)
        cut = {s: split_timestamps(db, real.horizon, s) for s in ("train", "val", "test")}
        mine = task_frames(db, spec, cut)
        for s in ("train", "val", "test"):
            want = real.splits[s]
            got = mine[s].rename(columns={mine[s].columns[2]: real.target_col})
            assert len(got) == len(want) > 0, (tn, s)
            pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), check_dtype=False,
                                          rtol=1e-9)


def test_contexts_use_only_rows_up_to_the_cut_off(drawn):
    """Corrupting every value timestamped after a test cut-off leaves the contexts of that cut-off's
    task rows bit-identical; corrupting values before it changes them (the check can see a leak)."""
    from relforge.tokenize.cells import tokenize_database
    from relforge.tokenize.sampler import ContextSampler, SamplerConfig
    from relforge.tokenize.tasks import resolve_task

    db, tasks = next((d, ts) for d, ts in drawn if len(ts) >= 2)
    tasks = [t for t, _ in tasks]
    task = max(tasks, key=lambda t: len(t.splits["test"]))
    t0 = task.splits["test"]["timestamp"].min()

    def contexts(d):
        store = tokenize_database(d, tasks, embedder="hash:16", name="leak")
        st = resolve_task(store, task.name, "test")
        keep = np.asarray(store["node_time"][st.seeds]) == pd.Timestamp(t0).value // 10**9
        import dataclasses

        st = dataclasses.replace(st, seeds=np.asarray(st.seeds)[keep])
        assert st.n_seeds > 0
        sm = ContextSampler([st], SamplerConfig(ctx_len=192, batch_size=st.n_seeds, seed=3, shuffle=False))
        return sm.batch(0, 0)

    def corrupt(after: bool):
        bad = _copy(db)
        n_changed = 0
        for tn, t in bad.tables.items():
            if t.time_col is None:
                continue
            rows = (t.df[t.time_col] > t0) if after else (t.df[t.time_col] <= t0) & (t.df[t.time_col] > db.val_timestamp)
            for c in t.df.columns:
                if c in t.key_cols or c == t.time_col:
                    continue
                s = t.df[c]
                if pd.api.types.is_bool_dtype(s.dtype):
                    t.df[c] = s.where(~rows, ~s.astype(bool))
                elif pd.api.types.is_numeric_dtype(s.dtype):
                    t.df[c] = pd.to_numeric(s, errors="coerce").astype("float64").where(~rows, -(s.astype("float64") * 7 + 13))
                else:
                    continue
                n_changed += int(rows.sum())
        assert n_changed > 0
        return bad

    base = contexts(db)
    after = contexts(corrupt(after=True))
    for k, v in base.items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(v, after[k], err_msg=k)
    before = contexts(corrupt(after=False))
    assert not np.array_equal(base["value"], before["value"])


def test_deterministic_per_seed_and_seed_matters():
    db = _db(3)
    a, b = forecast_tasks(db, 7, CFG), forecast_tasks(_db(3), 7, CFG)
    assert [t.name for t in a] == [t.name for t in b] and a
    for x, y in zip(a, b):
        assert x.horizon == y.horizon
        for s in ("train", "val", "test"):
            pd.testing.assert_frame_equal(x.splits[s], y.splits[s])
    others = [forecast_tasks(db, s, CFG) for s in (8, 9, 10)]
    sig = lambda ts: [(t.name, t.horizon, len(t.splits["train"])) for t in ts]  # noqa: E731
    assert any(sig(o) != sig(a) for o in others)


def test_split_periods_and_label_types(drawn):
    for db, tasks in drawn:
        for task, spec in tasks:
            tr, va, te = (task.splits[s]["timestamp"] for s in ("train", "val", "test"))
            assert tr.max() + task.horizon <= db.val_timestamp  # train windows close before val
            assert va.min() >= db.val_timestamp and te.min() >= db.test_timestamp
            assert va.max() + task.horizon <= db.test_timestamp
            y = task.splits["train"][task.target_col]
            if task.task_type == "binary_classification":
                assert set(np.unique(y)) == {0, 1}
            else:
                assert y.std() > 0


def _two_column_db(seed: int = 0, rising: bool = True):
    """users <- events with ``skill`` (user mean + noise: an entity effect), ``noise`` (none) and,
    with ``rising``, ``rising`` (``skill`` on a strong time trend)."""
    from relforge.db import Database, Table

    rng = np.random.default_rng(seed)
    n_u, n_e = 60, 3000
    t0 = pd.Timestamp("2021-01-01")
    users = pd.DataFrame({"user_id": np.arange(n_u)})
    u = rng.integers(0, n_u, n_e)
    level = rng.normal(0, 1, n_u)
    events = pd.DataFrame({"event_id": np.arange(n_e), "user_id": u,
                           "date": t0 + pd.to_timedelta(np.sort(rng.integers(0, 365 * 24, n_e)), unit="h"),
                           "skill": level[u] + 0.5 * rng.normal(0, 1, n_e), "noise": rng.normal(0, 1, n_e)})
    if rising:
        events["rising"] = events["skill"] + 4.0 * np.arange(n_e) / n_e
    db = Database({"users": Table(users, "user_id", {}, None),
                   "events": Table(events, "event_id", {"user_id": "users"}, "date", kind="activity")},
                  t0 + pd.Timedelta(days=250), t0 + pd.Timedelta(days=300), "two-columns")
    db.validate()
    return db


def test_entity_effect_prefers_columns_that_differ_between_entities():
    """Column tasks are tried in an order weighted by the column's entity effect (measured before
    the validation cut-off only): the entity-driven column wins most draws, a uniform order does not."""
    from relforge.generate.tasks import _Candidate, entity_effect

    db = _two_column_db(rising=False)
    eff = {c: entity_effect(db, _Candidate("mean", "users", "events", "user_id", c)) for c in ("skill", "noise")}
    assert eff["skill"] > 0.7 and eff["noise"] < 0.05
    # rows from the validation cut-off on do not inform the choice
    late = db.tables["events"].df["date"] >= db.val_timestamp
    db.tables["events"].df.loc[late, "noise"] = db.tables["events"].df.loc[late, "user_id"] * 10.0
    assert entity_effect(db, _Candidate("mean", "users", "events", "user_id", "noise")) == eff["noise"]
    picks = {}
    for sig in (0.0, 1.0):
        cfg = ForecastTaskConfig(n_tasks=1, kinds=("mean",), entity_signal=sig, drift_scale=0.0)
        picks[sig] = [draw_forecast_tasks(db, s, cfg)[0][1]["column"] for s in range(40)]
    share = {k: np.mean([c == "skill" for c in v]) for k, v in picks.items()}
    assert share[1.0] >= 0.85 and 0.25 <= share[0.0] <= 0.75, share


def test_sum_and_mean_tasks_prefer_columns_whose_level_holds_still():
    """Real regression labels sit on the entity's history (test mean - history mean ~ 0 on F1
    position, MovieLens rating, Chinook spend); a column trending before the validation cut-off
    would teach a drift, so sum / mean tasks are tried in an order weighted by exp(-drift / scale)."""
    from relforge.generate.tasks import _Candidate, column_drift

    db = _two_column_db()
    d = {c: column_drift(db, _Candidate("mean", "users", "events", "user_id", c)) for c in ("skill", "rising")}
    assert d["skill"] < 0.1 and d["rising"] > 1.0
    share = {}
    for scale in (0.0, 0.25):
        cfg = ForecastTaskConfig(n_tasks=1, kinds=("mean",), drift_scale=scale)
        cols = [draw_forecast_tasks(db, s, cfg)[0][1]["column"] for s in range(40)]
        share[scale] = np.mean([c == "skill" for c in cols])
    assert share[0.25] >= 0.9 and share[0.0] <= 0.8, share


def test_persistence_measures_what_the_label_history_tells():
    """``persistence``: Pearson r2 of the mean of an entity's 3 previous labels with its next one,
    in time order, each entity's history its own (a pooled or unsorted history would blur it)."""
    from relforge.generate.tasks import persistence

    rng = np.random.default_rng(0)
    n_e, n_t = 80, 12
    ent = np.repeat(np.arange(n_e), n_t)
    ts = pd.Timestamp("2021-01-01") + pd.to_timedelta(np.tile(np.arange(n_t), n_e), unit="D")
    level = rng.normal(0, 1, n_e)[ent]
    fr = pd.DataFrame({"timestamp": ts, "e": ent, "y": level + 0.3 * rng.normal(0, 1, len(ent))})
    sticky = persistence(fr.sample(frac=1.0, random_state=1), "e", "y")  # row order must not matter
    assert sticky > 0.8
    assert persistence(fr.assign(y=rng.normal(0, 1, len(ent))), "e", "y") < 0.05
    # a level that flips sign every step: the last label points the wrong way, which is not persistence
    flip = fr.assign(y=level * np.where(np.tile(np.arange(n_t), n_e) % 2 == 0, 1.0, -1.0))
    assert persistence(flip, "e", "y") == 0.0
    assert persistence(fr.head(5), "e", "y") == 0.0  # too few rows with a history


def test_min_persistence_keeps_only_regression_tasks_whose_history_tells():
    """With ``min_persistence`` every drawn regression task's train labels persist at least that
    much; the noise column's tasks, drawn without it, are passed over."""
    from relforge.generate.tasks import persistence

    db = _two_column_db(rising=False)
    cols = {}
    for mp in (0.0, 0.3):
        cfg = ForecastTaskConfig(n_tasks=1, kinds=("mean",), entity_signal=0.0, drift_scale=0.0, min_persistence=mp)
        drawn = [draw_forecast_tasks(db, s, cfg) for s in range(30)]
        cols[mp] = [d[0][1]["column"] for d in drawn if d]
        if mp > 0:
            for d in drawn:
                t = d[0][0]
                assert persistence(t.splits["train"], t.entity_col, t.target_col) >= mp
    assert "noise" in cols[0.0] and set(cols[0.3]) == {"skill"} and len(cols[0.3]) == 30
    with pytest.raises(relforge.errors.RelforgeError, match="min_persistence"):
        ForecastTaskConfig(min_persistence=1.5).validate()
