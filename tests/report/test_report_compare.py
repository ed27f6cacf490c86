"""Similarity scores and the classifier two-sample test."""
import numpy as np
import pandas as pd
import pytest

from relforge.report import compare as C
from relforge.report.metrics import database_metrics


def test_ks_and_tv_complements_by_hand():
    assert C.ks_complement([1, 2, 3], [2, 3, 4]) == pytest.approx(2 / 3)
    assert C.ks_complement([1.0, np.nan], [1.0]) == pytest.approx(1.0)
    assert np.isnan(C.ks_complement([], [1.0]))
    # (2/3, 1/3) vs (1/3, 2/3): TVD 1/3
    assert C.tv_complement(pd.Series(["x", "x", "y"]), pd.Series(["x", "y", "y"])) == pytest.approx(2 / 3)
    assert C.tv_complement(pd.Series(["x"]), pd.Series(["z"])) == pytest.approx(0.0)


def test_c2st_chance_and_separable():
    g = np.random.default_rng(0)
    same = C.c2st(g.normal(size=(1500, 3)), g.normal(size=(1500, 3)), seed=1)
    assert abs(same["auroc"] - 0.5) < 0.06
    # a pure scale difference: only the squared features can see it
    scaled = C.c2st(g.normal(size=(1500, 3)), 3.0 * g.normal(size=(1500, 3)), seed=1)
    assert scaled["auroc"] > 0.8
    shifted = C.c2st(g.normal(size=(1500, 2)), g.normal(size=(1500, 2)) + 3.0, seed=1)
    assert shifted["auroc"] > 0.95
    # identical rows on both sides sit in the same fold: no memorisation, chance level
    x = g.normal(size=(800, 4))
    assert abs(C.c2st(x, x.copy(), seed=2)["auroc"] - 0.5) < 0.02
    assert C.c2st(np.zeros((3, 2)), np.zeros((3, 2)))["auroc"] is None  # too few rows


def test_compare_identical_and_changed(tiny, make_tiny_db):
    a, b = tiny, make_tiny_db()
    ma, mb = database_metrics(a), database_metrics(b)
    r = C.compare_databases(a, b, ma, mb)
    mt = r["matched"]
    assert mt["shared_tables"] == ["countries", "orders", "users"]
    assert mt["means"] == {"cardinality_shape": 1.0, "column_shapes": 1.0, "pair_trends": 1.0}
    assert mt["quality"] == 1.0
    assert all(v == 1.0 for v in r["profile"]["scores"].values() if v is not None)
    # move every order to user 0: counts [4, 0, 0] vs [3, 0, 1] -> KS 1/3
    b.tables["orders"].df["user_id"] = 0
    mb = database_metrics(b)
    r = C.compare_databases(a, b, ma, mb)
    assert r["matched"]["cardinality_shape"]["users->orders.user_id"] == pytest.approx(2 / 3)
    assert r["matched"]["cardinality_shape"]["countries->users.country_id"] == 1.0
    assert r["matched"]["quality"] < 1.0


def test_pair_trends_by_hand(tiny, make_tiny_db):
    b = make_tiny_db()
    b.tables["users"].df["vip"] = [True, True, False]  # tier x vip now [[1,1],[1,0]]: V = 0.5 again
    b.tables["users"].df["age"] = [20.0, 30.0, 35.0]
    ma, mb = database_metrics(tiny), database_metrics(b)
    pt = C.pair_trends(ma, mb)
    assert pt["users.tier|vip"] == pytest.approx(1.0)
    # age|tier eta: 0 (a) vs groups {20, 35}, {30}: SSB = 2*(27.5-28.33)^2 + (30-28.33)^2, SST = 116.67
    y = np.array([20.0, 30.0, 35.0])
    eta_b = np.sqrt((2 * (27.5 - y.mean()) ** 2 + (30 - y.mean()) ** 2) / ((y - y.mean()) ** 2).sum())
    assert pt["users.age|tier"] == pytest.approx(1 - eta_b)


def test_matched_c2st_detects_shift(make_tiny_db):
    from relforge.db import Database, Stype, Table

    g = np.random.default_rng(3)

    def db(shift):
        p = Table(pd.DataFrame({"id": np.arange(400), "x": g.normal(size=400) + shift}), "id", {}, None,
                  {"x": Stype.numerical})
        kids = g.integers(0, 400, 1200)
        c = Table(pd.DataFrame({"id": np.arange(1200), "pid": kids, "y": g.normal(size=1200)}), "id",
                  {"pid": "p"}, None, {"y": Stype.numerical}, "activity")
        return Database({"p": p, "c": c})

    a, b, z = db(0.0), db(0.0), db(2.0)
    same = C.matched_c2st(a, b, seed=0)["p"]["auroc"]
    diff = C.matched_c2st(a, z, seed=0)["p"]["auroc"]
    assert abs(same - 0.5) < 0.1 and diff > 0.85
    assert C.structural_features(a).shape[1] == 4


def test_c2st_constant_side_is_separable():
    # one side constant: grouping identical rows would put all of it in one fold; the test must
    # still run and see the difference
    g = np.random.default_rng(5)
    res = C.c2st(np.zeros((500, 1)), g.integers(0, 30, (500, 1)).astype(float), seed=0)
    assert res["auroc"] is not None and res["auroc"] > 0.9
    assert len(res["auroc_folds"]) == 5
