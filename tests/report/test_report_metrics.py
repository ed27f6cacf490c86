"""Report metrics against values computed by hand on the tiny database of conftest.py."""
import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relforge.db import Database, Stype, Table
from relforge.report import metrics as M


def test_link_counts_dispersion_ccdf_gini(tiny):
    m = M.database_metrics(tiny)
    link = m["links"]["users->orders.user_id"]
    # counts [3, 0, 1]: mean 4/3, population variance 14/9 -> dispersion 7/6
    assert link["mean"] == pytest.approx(4 / 3)
    assert link["var"] == pytest.approx(14 / 9)
    assert link["dispersion"] == pytest.approx(7 / 6)
    assert link["ccdf_x"] == [0.0, 1.0, 3.0]
    assert link["ccdf_p"] == pytest.approx([1.0, 2 / 3, 1 / 3])
    assert link["frac_zero"] == pytest.approx(1 / 3)
    # sorted [0, 1, 3]: sum((2i - n - 1) x_i) / (n sum x) = (0 + 0 + 2*3) / (3 * 4)
    assert link["gini"] == pytest.approx(0.5)
    assert link["max"] == 3 and link["n_children"] == 4 and link["n_parents"] == 3
    # countries <- users: counts [1, 2]: mean 1.5, var 0.25 -> 1/6
    assert m["links"]["countries->users.country_id"]["dispersion"] == pytest.approx(0.25 / 1.5)


def test_association_measures_by_hand():
    x, y = np.array([1.0, 2, 3, 4]), np.array([1.0, 3, 2, 4])
    assert M.pearson(x, y) == pytest.approx(0.8)  # 4 / 5
    assert M.spearman(x, y) == pytest.approx(0.8)
    # table [[2, 0], [1, 1]]: chi2 = 4/3 -> V = sqrt(4/3 / 4)
    assert M.cramers_v(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 0])) == pytest.approx(math.sqrt(1 / 3))
    # groups {1, 3} and {5, 7}: SSB 16, SST 20
    codes, v = np.array([0, 0, 1, 1]), np.array([1.0, 3, 5, 7])
    assert M.correlation_ratio(codes, v) == pytest.approx(math.sqrt(0.8))
    assert M.adjusted_eta2(codes, v) == pytest.approx(1 - 0.2 * 3 / 2)
    # undefined cases are NaN, never an exception
    assert math.isnan(M.pearson(np.ones(5), np.arange(5.0)))
    assert math.isnan(M.pearson(np.array([1.0, np.nan]), np.array([1.0, 2.0])))
    assert math.isnan(M.cramers_v(np.zeros(4, int), np.array([0, 1, 0, 1])))
    assert math.isnan(M.correlation_ratio(np.array([-1, -1]), np.array([1.0, 2.0])))


def test_within_table_pairs(tiny):
    p = M.database_metrics(tiny)["pairs"]["users"]
    assert p["columns"] == ["age", "tier", "vip"]
    # tier x vip: [[1, 1], [0, 1]], chi2 = 3/4, n = 3 -> V = 0.5
    assert p["pairs"]["tier|vip"]["measure"] == "cramers_v"
    assert p["pairs"]["tier|vip"]["strength"] == pytest.approx(0.5)
    # age [20, 30, 40] by tier [a, b, a]: group means 30, 30 -> eta = 0
    assert p["pairs"]["age|tier"]["measure"] == "eta"
    assert p["pairs"]["age|tier"]["strength"] == pytest.approx(0.0)
    assert p["strength"][1][2] == pytest.approx(0.5) and p["strength"][0][0] is None


def test_cross_table_one_and_two_hops(tiny):
    m = M.database_metrics(tiny)
    one = m["cross_1hop"]["orders.user_id->users"]
    # amount [2, 1, 4, 3] vs parent age [20, 20, 40, 20]: Spearman 3 / sqrt(15)
    assert one["pairs"]["amount|age"]["strength"] == pytest.approx(3 / math.sqrt(15))
    # amount grouped by user: {2, 1, 3}, {4}: eta² = 3/5 -> adjusted 1 - 0.4 * 3 / 2
    assert one["parent_effect"]["amount"] == pytest.approx(0.4)
    two = m["cross_2hop"]["orders.user_id->users.country_id->countries"]
    # grandparent pop [1, 1, 5, 1]: same ranks as age
    assert two["pairs"]["amount|pop"]["strength"] == pytest.approx(3 / math.sqrt(15))
    assert two["n_rows"] == 4


def test_temporal_lag1_trend_and_volume(tiny):
    t = M.database_metrics(tiny)["temporal"]["orders"]
    # time order amount [1, 3, 2, 4]: lag-1 pairs (1,3),(3,2),(2,4): r = -1 / 2
    assert t["columns"]["amount"]["lag1"] == pytest.approx(-0.5)
    assert t["columns"]["amount"]["trend"] == pytest.approx(0.8)
    assert sum(t["volume"]) == 4 and len(t["volume"]) == M.TIME_BINS
    assert set(M.database_metrics(tiny)["temporal"]) == {"orders"}


def test_missing_rates_and_marginals(tiny):
    m = M.database_metrics(tiny)
    assert m["missing"]["tables"]["orders"]["columns"]["note"] == pytest.approx(0.25)
    assert m["missing"]["tables"]["orders"]["columns"]["amount"] == 0.0
    # feature columns: pop, age, tier, vip, amount, kind, note -> one of 7 has missing values
    assert m["missing"]["frac_features_with_missing"] == pytest.approx(1 / 7)
    assert m["missing"]["mean_feature_rate"] == pytest.approx(0.25 / 7)
    col = m["columns"]["users"]["age"]
    assert col["mean"] == pytest.approx(30.0) and col["std"] == pytest.approx(math.sqrt(200 / 3))
    assert sum(col["hist"]) == 3
    assert m["columns"]["users"]["tier"]["top"] == [["a", 2], ["b", 1]]
    assert m["columns"]["orders"]["note"]["mean_len"] == pytest.approx((5 + 5 + 3) / 3)


def test_headline_and_strict_json(tiny):
    m = M.database_metrics(tiny)
    h = m["headline"]
    assert h["n_tables"] == 3 and h["n_fkeys"] == 2 and h["n_rows"] == 9
    assert h["dispersion"]["max"] == pytest.approx(7 / 6)
    assert h["lag1"]["median"] == pytest.approx(-0.5)
    json.dumps(m, allow_nan=False)  # every NaN became None


def _awkward_db() -> Database:
    n = 50
    rng = np.random.default_rng(0)
    a = Table(pd.DataFrame({
        "id": np.arange(n), "boss": np.r_[-1, np.arange(n - 1)].astype(float),
        "allnan": np.full(n, np.nan), "const": np.ones(n), "when": pd.date_range("2000-01-01", periods=n),
        "text": [f"free text {i}" for i in range(n)], "cat": pd.Categorical(rng.choice(list("abc"), n)),
        "nbool": pd.array([True, None, False, True, None] * 10, dtype="boolean"),
    }), "id", {}, None, {"allnan": Stype.numerical, "const": Stype.numerical, "when": Stype.datetime,
                         "text": Stype.text, "cat": Stype.categorical, "nbool": Stype.boolean})
    a.df.loc[0, "boss"] = np.nan
    a.fkey_col_to_pkey_table = {"boss": "a"}  # self reference with a null
    empty = Table(pd.DataFrame({"id": pd.Series([], dtype=np.int64), "a_id": pd.Series([], dtype=np.int64),
                                "t": pd.Series([], dtype="datetime64[ns]"), "x": pd.Series([], dtype=float)}),
                  "id", {"a_id": "a"}, "t", {"t": Stype.datetime, "x": Stype.numerical}, "activity")
    nopk = Table(pd.DataFrame({"a_id": rng.integers(0, n, 30), "t": pd.date_range("2001-01-01", periods=30),
                               "y": np.full(30, 2.0)}), None, {"a_id": "a"}, "t",
                 {"t": Stype.datetime, "y": Stype.numerical}, "activity")
    db = Database({"a": a, "empty": empty, "nopk": nopk}, name="awkward")
    db.validate()
    return db


def test_awkward_columns_never_error():
    m = M.database_metrics(_awkward_db())
    text = json.dumps(m, allow_nan=False)
    assert '"error"' not in text, text[text.find('"error"') - 200: text.find('"error"') + 200]
    assert m["links"]["a->empty.a_id"]["dispersion"] is None  # no children: mean 0
    assert m["links"]["a->a.boss"]["n_children"] == 49
    assert m["temporal"]["nopk"]["columns"]["y"]["lag1"] is None  # constant series
    assert m["columns"]["a"]["allnan"]["missing"] == 1.0


def test_failures_are_recorded_not_raised(tiny, monkeypatch):
    def boom(*a, **k):
        raise ValueError("synthetic failure")

    monkeypatch.setattr(M, "temporal_table", boom)
    m = M.database_metrics(tiny)
    assert m["temporal"]["orders"] == {"error": "ValueError: synthetic failure"}
    assert m["links"]["users->orders.user_id"]["dispersion"] == pytest.approx(7 / 6)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=40))
def test_ccdf_is_monotone_survival(counts):
    xs, p = M.ccdf_points(np.array(counts))
    assert p[0] == 1.0 and all(a > b for a, b in zip(xs[1:], xs[:-1]))
    assert all(a >= b for a, b in zip(p[:-1], p[1:]))
    c = np.array(counts)
    assert p == pytest.approx([(c >= x).mean() for x in xs])


def test_real_f1_metrics(real_data_dir):
    from relforge import realdata

    db = realdata.load("f1", real_data_dir)  # the data folder exists (fixture): a load error fails
    m = M.database_metrics(db)
    assert '"error"' not in json.dumps(m)
    links = m["links"]
    assert links["drivers->results.driverId"]["dispersion"] > 50  # heavy-tailed, far from Poisson
    assert links["constructors->results.constructorId"]["dispersion"] > 200
    lag = [c["lag1"] for t in m["temporal"].values() for c in t["columns"].values()]
    assert min(lag) > 0.1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=2, max_size=60))
def test_cramers_v_matches_scipy(pairs):
    from scipy.stats.contingency import association, crosstab

    a, b = np.array(pairs).T
    if len(set(a)) < 2 or len(set(b)) < 2:
        assert math.isnan(M.cramers_v(a, b))
        return
    ref = association(crosstab(a, b).count, method="cramer", correction=False)
    assert M.cramers_v(a, b) == pytest.approx(ref)
