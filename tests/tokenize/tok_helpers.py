"""Small generated databases for the tokenizer/sampler tests (independent of the generator)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.db import Database, Table
from relforge.db.task import Task
from relforge.rng import as_rng

T0 = pd.Timestamp("2020-01-01")


def make_db(seed: int = 0, n_users: int = 40, n_items: int = 25, n_events: int = 400, null_frac: float = 0.1,
            name: str | None = None) -> Database:
    """users (static) <- events (timed, FKs user & item) -> items (static, FK to a category table);
    reviews (timed, FK to event). Nulls, booleans, text, datetime features, a constant column,
    some untimed (NaT) events, and a timed parent (``campaign``) that can be later than its child."""
    rng = as_rng(seed)
    cats = pd.DataFrame({"cat_id": np.arange(5), "label": [f"cat {i}" for i in range(5)]})
    users = pd.DataFrame({
        "user_id": np.arange(n_users),
        "age": rng.integers(18, 80, n_users).astype(float),
        "vip": rng.random(n_users) < 0.3,
        "country": rng.choice(["fr", "de", "us", "jp"], n_users),
        "signup": T0 - pd.to_timedelta(rng.integers(0, 1000, n_users), unit="D"),
        "const": np.ones(n_users),
    })
    users.loc[rng.random(n_users) < null_frac, "age"] = np.nan
    items = pd.DataFrame({"item_id": np.arange(n_items), "cat_id": rng.integers(0, 5, n_items),
                          "price": rng.gamma(2.0, 10.0, n_items)})
    camp_t = T0 + pd.to_timedelta(rng.integers(0, 400, 6), unit="D")
    campaigns = pd.DataFrame({"camp_id": np.arange(6), "date": camp_t, "budget": rng.random(6) * 100})
    ev_t = T0 + pd.to_timedelta(np.sort(rng.integers(0, 365 * 24, n_events)), unit="h")
    events = pd.DataFrame({
        "event_id": np.arange(n_events),
        "user_id": rng.integers(0, n_users, n_events),
        "item_id": rng.integers(0, n_items, n_events),
        "camp_id": pd.array(np.where(rng.random(n_events) < 0.5, rng.integers(0, 6, n_events), -1), dtype="Int64"),
        "date": ev_t,
        "amount": rng.normal(50, 20, n_events),
        "clicked": rng.random(n_events) < 0.4,
        "channel": rng.choice(["web", "app", "shop"], n_events),
    })
    events["camp_id"] = events["camp_id"].mask(events["camp_id"] < 0)
    events.loc[rng.random(n_events) < null_frac, "amount"] = np.nan
    events.loc[rng.random(n_events) < 0.02, "date"] = pd.NaT
    n_rev = n_events // 2
    rev_ev = rng.integers(0, n_events, n_rev)
    reviews = pd.DataFrame({"review_id": np.arange(n_rev), "event_id": rev_ev,
                            "date": events["date"].to_numpy()[rev_ev] + pd.to_timedelta(rng.integers(1, 48, n_rev), unit="h"),
                            "stars": rng.integers(1, 6, n_rev).astype(float)})
    tables = {
        "categories": Table(cats, "cat_id", {}, None),
        "users": Table(users, "user_id", {}, None),
        "items": Table(items, "item_id", {"cat_id": "categories"}, None),
        "campaigns": Table(campaigns, "camp_id", {}, "date"),
        "events": Table(events, "event_id", {"user_id": "users", "item_id": "items", "camp_id": "campaigns"}, "date", kind="activity"),
        "reviews": Table(reviews, "review_id", {"event_id": "events"}, "date", kind="activity"),
    }
    db = Database(tables, T0 + pd.Timedelta(days=250), T0 + pd.Timedelta(days=310), name or f"toy{seed}")
    db.validate()
    return db


def make_forecast_task(db: Database, horizon_days: int = 30) -> Task:
    """users: will the user have an event in the next ``horizon_days``? (computed with pandas)."""
    ev = db["events"].df.dropna(subset=["date"])
    h = pd.Timedelta(days=horizon_days)
    cut = {"train": [db.val_timestamp - h * k for k in range(1, 6)],
           "val": [db.val_timestamp], "test": [db.test_timestamp]}
    splits = {}
    for sp, ts in cut.items():
        rows = []
        for t in ts:
            win = ev[(ev["date"] > t) & (ev["date"] <= t + h)]
            active = set(win["user_id"])
            for u in db["users"].df["user_id"]:
                rows.append((t, u, int(u in active)))
        splits[sp] = pd.DataFrame(rows, columns=["timestamp", "user_id", "active"])
    return Task(name="user-active", kind="forecast", task_type="binary_classification", target_col="active",
                entity_table="users", entity_col="user_id", time_col="timestamp", horizon=h, splits=splits)


