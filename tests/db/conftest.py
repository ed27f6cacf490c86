"""Fixtures for the db I/O tests: a small hand-built database with every dtype the writers map."""
import numpy as np
import pandas as pd
import pytest

from relforge.db import Database, Table

#: A generator config small enough for unit tests (a database in well under a second).
SMALL = {"schema": {"n_tables": (3, 5), "entity_rows": (20, 60), "activity_rows": (60, 150), "n_features": (1, 5)}}


def make_toy_db(n_users: int = 6, n_orders: int = 20, seed: int = 0) -> Database:
    """users (self-FK referrer) <- orders -> items; ints, nullable ints, floats with NaN, bools,
    strings with nulls, and a timed activity table."""
    rng = np.random.default_rng(seed)
    referrer = pd.array([None] + [int(rng.integers(0, i)) for i in range(1, n_users)], dtype="Int64")
    users = pd.DataFrame({
        "user_id": np.arange(n_users, dtype=np.int64),
        "referrer": referrer,
        "name": pd.array([f"user 'quoted' \"{i}\"" for i in range(n_users)], dtype="string"),
        "vip": np.arange(n_users) % 2 == 0,
        "score": np.linspace(0, 1, n_users),
    })
    items = pd.DataFrame({"item_id": np.arange(4, dtype=np.int64),
                          "color": pd.array(["red", "blue", None, "red"], dtype="string"),
                          "price": [1.5, np.nan, 3.0, 4.25],
                          "in stock": pd.array([True, None, False, True], dtype="boolean")})
    orders = pd.DataFrame({
        "order_id": np.arange(n_orders, dtype=np.int64),
        "user_id": pd.array(rng.integers(0, n_users, n_orders), dtype="Int64"),
        "item_id": pd.array(rng.integers(0, 4, n_orders), dtype="Int64"),
        "ts": pd.date_range("2020-01-01 00:00:01", periods=n_orders, freq="37h").astype("datetime64[ns]"),
        "qty": pd.array(rng.integers(1, 5, n_orders), dtype="Int64"),
        "cat": rng.integers(0, 3, n_orders).astype(np.int64),
        "amount": rng.normal(size=n_orders),
    })
    orders.loc[3, "amount"] = np.nan
    orders.loc[5, "qty"] = pd.NA
    orders.loc[7, "user_id"] = pd.NA
    return Database({
        "users": Table(users, "user_id", {"referrer": "users"}, None, {"name": "text"}, "entity"),
        "items": Table(items, "item_id", {}, None, {"color": "categorical"}, "entity"),
        "orders": Table(orders, "order_id", {"user_id": "users", "item_id": "items"}, "ts", {"cat": "categorical"},
                        "activity"),
    }, pd.Timestamp("2020-02-01"), pd.Timestamp("2020-02-10"), "toy", {"seed": seed})


@pytest.fixture
def toy_db() -> Database:
    db = make_toy_db()
    db.validate()
    return db


@pytest.fixture(scope="module")
def gen_db() -> Database:
    """A database from the real generator (small config)."""
    from relforge.generate.pipeline import generate_database

    return generate_database(7, SMALL)
