"""A tiny hand-built database whose report metrics are computed by hand in the tests.

countries(id, pop) <- users(id, country_id, age, tier, vip) <- orders(id, user_id, ts, amount, kind, note)

- users -> orders child counts: [3, 0, 1]
- orders in time order have amount [1, 3, 2, 4]; ``note`` has 1 missing value of 4
"""
import pandas as pd
import pytest

from relforge.db import Database, Stype, Table


def make_tiny() -> Database:
    countries = Table(pd.DataFrame({"id": [0, 1], "pop": [1.0, 5.0]}), "id", {}, None,
                      {"pop": Stype.numerical}, "entity")
    users = Table(pd.DataFrame({"id": [0, 1, 2], "country_id": [0, 1, 1], "age": [20.0, 30.0, 40.0],
                                "tier": ["a", "b", "a"], "vip": [True, False, False]}),
                  "id", {"country_id": "countries"}, None,
                  {"age": Stype.numerical, "tier": Stype.categorical, "vip": Stype.boolean}, "entity")
    orders = Table(pd.DataFrame({
        "id": [0, 1, 2, 3],
        "user_id": [0, 0, 2, 0],
        "ts": pd.to_datetime(["2020-01-03", "2020-01-01", "2020-01-04", "2020-01-02"]),
        "amount": [2.0, 1.0, 4.0, 3.0],
        "kind": ["x", "y", "x", "y"],
        "note": ["hello", None, "there", "you"],
    }), "id", {"user_id": "users"}, "ts",
        {"ts": Stype.datetime, "amount": Stype.numerical, "kind": Stype.categorical, "note": Stype.text}, "activity")
    db = Database({"countries": countries, "users": users, "orders": orders}, name="tiny")
    db.validate()
    return db


@pytest.fixture
def tiny() -> Database:
    return make_tiny()


@pytest.fixture
def make_tiny_db():
    """The factory itself (for tests that need several independent copies)."""
    return make_tiny


@pytest.fixture(scope="session")
def pair_report(tmp_path_factory):
    """One comparison report (tiny vs tiny with every order moved to user 0), built once per session
    and shared by the page and browser tests; returns its folder."""
    from relforge.report import build_report

    b = make_tiny()
    b.tables["orders"].df["user_id"] = 0
    out = tmp_path_factory.mktemp("report") / "cmp"
    build_report(make_tiny(), out, vs=b, labels=("left", "right"))
    return out
