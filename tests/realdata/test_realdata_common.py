"""build_database: re-indexing keeps every foreign key pointing at the same parent row."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from relforge.errors import RelforgeError
from relforge.realdata._common import build_database


@settings(max_examples=40, deadline=None)
@given(n_parent=st.integers(1, 30), n_child=st.integers(0, 60), seed=st.integers(0, 2**31 - 1), null_frac=st.floats(0, 0.5))
def test_reindex_preserves_links(n_parent, n_child, seed, null_frac):
    rng = np.random.default_rng(seed)
    pid = rng.choice(10_000, size=n_parent, replace=False) + 1  # arbitrary, unsorted source ids
    parent = pd.DataFrame({"pid": pid, "label": [f"p{x}" for x in pid],
                           "t": pd.to_datetime(rng.integers(0, 1000, n_parent), unit="D")})
    fk = rng.choice(pid, size=n_child).astype(np.float64)
    fk[rng.random(n_child) < null_frac] = np.nan
    child = pd.DataFrame({"cid": np.arange(n_child) * 7 + 3, "pid": fk,
                          "t": pd.to_datetime(rng.integers(0, 1000, n_child), unit="D")})
    expect = child["pid"].map(dict(zip(pid, parent["label"])))
    db = build_database("x", {"parent": dict(df=parent, pkey="pid", time="t"),
                              "child": dict(df=child, pkey="cid", fkeys={"pid": "parent"}, time="t")},
                        val_timestamp="1970-06-01", test_timestamp="1971-06-01")
    p, c = db["parent"].df, db["child"].df
    assert np.array_equal(p["pid"], np.arange(n_parent)) and p["t"].is_monotonic_increasing
    assert c["t"].is_monotonic_increasing
    labels = p["label"].to_numpy()
    got = [None if pd.isna(i) else labels[int(i)] for i in c["pid"]]
    # child rows were stably re-ordered by time: compare in that order
    order = child["t"].argsort(kind="stable").to_numpy()
    exp = [None if pd.isna(x) else x for x in expect.to_numpy()[order]]
    assert got == exp


def test_dangling_and_duplicate_keys_are_named():
    par = pd.DataFrame({"id": [5, 6]})
    with pytest.raises(RelforgeError, match="'kid'.*'pid'.*9"):
        build_database("x", {"par": dict(df=par, pkey="id"),
                             "kid": dict(df=pd.DataFrame({"pid": [5, 9]}), fkeys={"pid": "par"})},
                       val_timestamp="2000-01-01", test_timestamp="2001-01-01")
    with pytest.raises(RelforgeError, match="'par'.*duplicate"):
        build_database("x", {"par": dict(df=pd.DataFrame({"id": [5, 5]}), pkey="id")},
                       val_timestamp="2000-01-01", test_timestamp="2001-01-01")
