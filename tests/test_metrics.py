"""The prediction scores shared by every evaluation (relforge.metrics): ranks, AUROC, R2."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relforge.metrics import mae, r2, rankdata, roc_auc


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-5, 5), min_size=0, max_size=30))
def test_rankdata_matches_scipy(v):
    from scipy.stats import rankdata as scipy_rankdata

    assert rankdata(np.array(v, float)) == pytest.approx(scipy_rankdata(v))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=30))
def test_roc_auc_is_the_pairwise_win_rate(pairs):
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] for p in pairs], dtype=float)  # small integer scores: many ties
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        assert math.isnan(roc_auc(y, s))
        return
    ref = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert roc_auc(y, s) == pytest.approx(ref, abs=1e-12)


def test_roc_auc_by_hand():
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert roc_auc([0, 1], [1.0, 1.0]) == pytest.approx(0.5)  # a tie counts half
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc(np.array([1, 0, 0]), [3, 2, 1]) == 1.0


def test_r2():
    t = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2(t, t) == 1.0
    assert math.isclose(r2(t, np.full(4, t.mean())), 0.0)
    assert r2(t, t + 1) == pytest.approx(1 - 4 / 5)
    assert math.isnan(r2(np.ones(4), t))  # constant truth
    assert math.isnan(r2([], []))


def test_mae():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert mae(y, y + 0.5) == pytest.approx(0.5)
    assert mae(y, y) == 0.0
