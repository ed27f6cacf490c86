"""Baselines on real forecast tasks: metrics, leakage-free features, LightGBM sanity."""
import numpy as np
import pandas as pd
import pytest

from relforge import realdata
from relforge.experiments.baselines import constant_baseline, evaluate_baselines, markdown_table, relational_features
from relforge.metrics import roc_auc


@pytest.fixture(scope="module")
def f1(real_data_dir):
    db = realdata.load("f1", real_data_dir)
    return db, realdata.get_task("f1", "driver-top3", db=db)


def test_features_see_only_the_past(f1):
    """Features at cut-off t are identical when computed on the database cut at t."""
    db, task = f1
    frame = task.splits["val"]
    for t in frame["timestamp"].drop_duplicates().iloc[[0, 5]]:
        rows = frame[frame["timestamp"] == t].reset_index(drop=True)
        full = relational_features(db, task, rows)
        cut = relational_features(db.upto(t), task, rows)
        pd.testing.assert_frame_equal(full, cut)
        assert len(full) == len(rows) and full.shape[1] > 10
        assert (full["results__driverId__all__count"] > 0).any()


def test_feature_counts_match_pandas(f1):
    db, task = f1
    rows = task.splits["test"].iloc[:50].reset_index(drop=True)
    feats = relational_features(db, task, rows)
    res = db["results"].df
    ref = [int(((res["driverId"] == e) & (res["date"] <= t)).sum()) for t, e in zip(rows["timestamp"], rows["driverId"])]
    assert feats["results__driverId__all__count"].astype(int).tolist() == ref


def test_constant_and_lightgbm(f1):
    pytest.importorskip("lightgbm")
    db, task = f1
    const = constant_baseline(task)
    assert roc_auc(task.splits["val"]["qualifying"], const["val"]) == 0.5
    res = evaluate_baselines(db, [task])
    val = res[(res.split == "val") & (res.model == "lightgbm")]["value"].iloc[0]
    assert val > 0.7  # past qualifying/results positions predict a top-3 qualifying
    table = markdown_table(res)
    assert "driver-top3 | lightgbm" in table and "roc_auc val" in table
    # deterministic for a fixed seed
    res2 = evaluate_baselines(db, [task], models=("lightgbm",))
    assert np.allclose(res2["value"].to_numpy(), res[res.model == "lightgbm"]["value"].to_numpy())
