"""Invariants every real-database loader must keep (f1, chinook, movielens)."""
import numpy as np
import pandas as pd
import pytest

from relforge import realdata
from relforge.db.table import Stype

DBS = ["f1", "chinook", "movielens"]


@pytest.mark.parametrize("name", DBS)
def test_invariants(all_dbs, name):
    db = all_dbs[name]
    db.validate()
    assert db.name == name
    assert db.val_timestamp < db.test_timestamp
    referenced = {p for _, p in [(c, p) for t in db.tables.values() for c, p in t.fkey_col_to_pkey_table.items()]}
    for tname, t in db.tables.items():
        if t.pkey_col is not None:
            assert np.array_equal(t.df[t.pkey_col].to_numpy(), np.arange(len(t))), tname
        for c, parent in t.fkey_col_to_pkey_table.items():
            fk = t.df[c].dropna().to_numpy()
            assert len(fk) == 0 or (fk.min() >= 0 and fk.max() < len(db[parent])), (tname, c)
            assert np.array_equal(fk, np.round(fk)), (tname, c)
        if t.time_col is not None:
            s = t.df[t.time_col]
            assert s.dtype == "datetime64[ns]" and s.notna().all() and s.is_monotonic_increasing, tname
        assert t.kind == ("entity" if tname in referenced else "activity")
        for c, st in t.stypes.items():
            assert c not in t.key_cols
            if st == Stype.datetime:
                assert pd.api.types.is_datetime64_any_dtype(t.df[c])
        assert t.df.index.equals(pd.RangeIndex(len(t))), tname
    # timed tables straddle both cut-offs (so every split has data)
    timed = [t.df[t.time_col] for t in db.tables.values() if t.time_col]
    assert min(s.min() for s in timed) < db.val_timestamp and max(s.max() for s in timed) > db.test_timestamp


@pytest.mark.parametrize("name", DBS)
def test_loading_is_deterministic(all_dbs, real_data_dir, name):
    assert realdata.load(name, real_data_dir).content_hash() == all_dbs[name].content_hash()


def test_data_dir_from_environment(monkeypatch, real_data_dir, chinook_db):
    monkeypatch.setenv("RELFORGE_DATA", str(real_data_dir))
    monkeypatch.chdir("/")
    assert realdata.load("chinook").content_hash() == chinook_db.content_hash()


# ---------------------------------------------------------------------------------------------
# chinook

def test_chinook_tables(chinook_db, real_data_dir):
    assert len(chinook_db) == 11
    sizes = {t: len(chinook_db[t]) for t in chinook_db.tables}
    assert sizes["Invoice"] == 412 and sizes["InvoiceLine"] == 2240 and sizes["Track"] == 3503 and sizes["Customer"] == 59
    assert chinook_db["PlaylistTrack"].pkey_col is None
    assert {n for n, t in chinook_db.tables.items() if t.time_col} == {"Invoice", "InvoiceLine"}
    inv, line = chinook_db["Invoice"].df, chinook_db["InvoiceLine"].df
    assert (line["InvoiceDate"].to_numpy() == inv["InvoiceDate"].to_numpy()[line["InvoiceId"]]).all()
    assert round(float(inv["Total"].sum()), 2) == 2328.60
    assert inv["InvoiceDate"].min() == pd.Timestamp("2021-01-01") and inv["InvoiceDate"].max() == pd.Timestamp("2025-12-22")
    # invoice totals equal the sum of their lines (keys remapped consistently)
    tot = (line["UnitPrice"] * line["Quantity"]).groupby(line["InvoiceId"]).sum()
    assert np.allclose(tot.reindex(range(len(inv))).to_numpy(), inv["Total"].to_numpy())
    emp = chinook_db["Employee"].df
    assert emp["ReportsTo"].isna().sum() == 1
    # postal codes stay strings with their leading zeros
    pc = chinook_db["Customer"].df["PostalCode"].dropna()
    assert pc.map(type).eq(str).all() and pc.str.startswith("0").any()


def test_chinook_sqlite_and_csv_agree(real_data_dir, chinook_db):
    from relforge.realdata.chinook import load_chinook

    csv = load_chinook(real_data_dir, source="csv")
    assert csv.content_hash() == chinook_db.content_hash()


def test_chinook_tasks(chinook_db):
    spend = realdata.get_task("chinook", "customer-spend", db=chinook_db)
    churn = realdata.get_task("chinook", "customer-churn", db=chinook_db)
    inv = chinook_db["Invoice"].df
    for split in ("train", "val", "test"):
        a, b = spend.splits[split], churn.splits[split]
        assert len(a) > 0 and a[["timestamp", "CustomerId"]].equals(b[["timestamp", "CustomerId"]])
        assert ((a["spend"] == 0) == (b["churn"] == 1)).all()
        t = a["timestamp"].iloc[-1]
        w = inv[(inv["InvoiceDate"] > t) & (inv["InvoiceDate"] <= t + spend.horizon)]
        got = a[a["timestamp"] == t].set_index("CustomerId")["spend"]
        ref = w.groupby("CustomerId")["Total"].sum().reindex(got.index, fill_value=0.0)
        assert np.allclose(got.to_numpy(), ref.to_numpy())
    assert spend.splits["val"]["timestamp"].min() == chinook_db.val_timestamp
    assert spend.splits["test"]["timestamp"].min() == chinook_db.test_timestamp
    up = realdata.get_task("chinook", "track-unitprice", db=chinook_db)
    assert up.kind == "autocomplete" and up.time_col is None
    ids = np.concatenate([df["TrackId"].to_numpy() for df in up.splits.values()])
    assert np.array_equal(np.sort(ids), np.arange(len(chinook_db["Track"])))  # a partition of the rows
    assert len(up.splits["train"]) > 5 * len(up.splits["test"])


# ---------------------------------------------------------------------------------------------
# movielens

def test_movielens_tables(movielens_db):
    assert set(movielens_db.tables) == {"users", "movies", "ratings", "tags"}
    assert len(movielens_db["users"]) == 610 and len(movielens_db["movies"]) == 9742
    assert len(movielens_db["ratings"]) == 100836 and len(movielens_db["tags"]) == 3683
    r = movielens_db["ratings"].df
    assert r["timestamp"].min().date() == pd.Timestamp("1996-03-29").date()
    assert r["timestamp"].max().date() == pd.Timestamp("2018-09-24").date()
    assert not r.duplicated(["userId", "movieId"]).any()
    assert set(np.unique(r["rating"])) <= set(np.arange(0.5, 5.01, 0.5))


def test_movielens_tasks(movielens_db):
    churn = realdata.get_task("movielens", "user-churn", db=movielens_db)
    mean = realdata.get_task("movielens", "user-mean-rating", db=movielens_db)
    r = movielens_db["ratings"].df
    for split in ("train", "val", "test"):
        c, m = churn.splits[split], mean.splits[split]
        assert len(c) > 0 and len(m) > 0
        assert 0 < c["churn"].mean() < 1
        assert m["mean_rating"].between(0.5, 5.0).all()
        t = c["timestamp"].iloc[0]
        past = r[(r["timestamp"] <= t) & (r["timestamp"] > t - pd.Timedelta(days=365))]
        fut = r[(r["timestamp"] > t) & (r["timestamp"] <= t + churn.horizon)]
        got = c[c["timestamp"] == t].set_index("userId")["churn"]
        assert list(got.index) == sorted(past["userId"].unique())
        assert (got == (~got.index.isin(fut["userId"])).astype(int)).all()
    ac = realdata.get_task("movielens", "ratings-rating", db=movielens_db)
    assert sum(len(df) for df in ac.splits.values()) == len(r)


@pytest.mark.parametrize("name", ["chinook", "movielens"])
def test_save_load_roundtrip(all_dbs, tmp_path, name):
    from relforge.db.database import Database

    db = all_dbs[name]
    db.save(tmp_path / name)
    back = Database.load(tmp_path / name)
    assert back.content_hash() == db.content_hash()
    assert all(back[t].stypes == db[t].stypes for t in db.tables)
