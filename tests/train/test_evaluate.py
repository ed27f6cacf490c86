import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from relforge.train.evaluate import auroc, primary, r2_score, score_predictions


def brute_auroc(s, y):
    pos, neg = s[y], s[~y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(-5, 5), st.booleans()), min_size=2, max_size=40))
def test_auroc_equals_pair_counting(pairs):
    s = np.array([p[0] for p in pairs], dtype=float)  # small integer scores: many ties
    y = np.array([p[1] for p in pairs])
    got = auroc(s, y)
    if y.all() or not y.any():
        assert math.isnan(got)
    else:
        assert math.isclose(got, brute_auroc(s, y), abs_tol=1e-12)


def test_auroc_extremes_and_r2():
    y = np.array([0, 0, 1, 1], dtype=bool)
    assert auroc([0.1, 0.2, 0.8, 0.9], y) == 1.0
    assert auroc([0.9, 0.8, 0.2, 0.1], y) == 0.0
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(t, t) == 1.0
    assert math.isclose(r2_score(np.full(4, t.mean()), t), 0.0)
    assert math.isnan(r2_score(t, np.ones(4)))


def test_score_predictions_and_primary():
    r = score_predictions("regression", np.array([0.0, 1.0]), np.array([0.0, 2.0]))
    assert r["baseline_r2"] < 0 and r["r2"] < 1 and r["baseline_loss"] > 0
    c = score_predictions("binary_classification", np.array([-1.0, 2.0, 0.5]), np.array([-1.0, 1.0, 1.0]))
    assert c["auroc"] == 1.0 and math.isclose(c["pos_rate"], 2 / 3)
    assert primary({"loss": 0.3, "auroc": 0.7}) == ("auroc", 0.7, True)
    assert primary({"loss": 0.3, "auroc": float("nan")}) == ("loss", 0.3, False)


def test_training_rate_constant_is_never_better_than_the_oracle_rate():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = np.where(rng.random(50) < rng.uniform(0.05, 0.95), 1.0, -1.0)
        rate = float(rng.uniform(0.01, 0.99))
        c = score_predictions("binary_classification", rng.normal(size=50), y, train_rate=rate)
        p = (y > 0).mean()
        want = -np.mean(np.where(y > 0, np.log(rate), np.log(1 - rate)))
        assert math.isclose(c["prior_loss"], want, rel_tol=1e-9)
        assert c["prior_loss"] >= c["baseline_loss"] - 1e-12 and math.isclose(c["pos_rate"], p)
    assert "prior_loss" not in score_predictions("binary_classification", np.zeros(2), np.array([1.0, -1.0]))
