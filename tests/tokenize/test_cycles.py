"""Cyclic key graphs: every walk of the context sampler ends, within its cell budget, on row-level
cycles (a Q&A site's AcceptedAnswerId / ParentId), table-level cycles through nullable keys
(A -> B -> A), and rows that reference one row through two keys (OwnerUserId and LastEditorUserId)."""
import sqlite3

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_

import relforge
from relforge.db import Database, Table
from relforge.errors import RelforgeError
from relforge.tokenize import ContextSampler, SamplerConfig, build_cells, embed_store, resolve_task
from relforge.tokenize.pipeline import tokenize_source
from relforge.tokenize.sampler import summarize_batch_for
from relforge.tokenize.store import MAX_F2P, UNTIMED

from test_sampler import check_batch

T0 = pd.Timestamp("2021-01-01")


def random_graph_db(seed: int, n_tables: int, max_rows: int, dup: float, null: float, timed: float) -> Database:
    """Tables t0..t{k-1}, each with a number column ``x``, 1-3 nullable keys to random tables (itself
    included, so row cycles and table cycles A -> B -> A are common), keys of one row often pointing
    to the same parent row, and a random share of timed tables."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, max_rows + 1, n_tables)
    tables = {}
    for i in range(n_tables):
        n = int(sizes[i])
        df = pd.DataFrame({"id": np.arange(n), "x": rng.normal(size=n)})
        fks = {}
        first = None
        for j in range(int(rng.integers(1, 4))):
            parent = int(rng.integers(0, n_tables))
            v = rng.integers(0, sizes[parent], n).astype(float)
            if first is not None and first[0] == parent:  # a second key to the same table: often the same row
                v = np.where(rng.random(n) < dup, first[1], v)
            v[rng.random(n) < null] = np.nan
            first = first or (parent, v)
            df[f"k{j}"] = v
            fks[f"k{j}"] = f"t{parent}"
        time_col = None
        if rng.random() < timed:
            df["at"] = T0 + pd.to_timedelta(rng.integers(0, 1000, n), unit="h")
            time_col = "at"
        tables[f"t{i}"] = Table(df, "id", fks, time_col)
    db = Database(tables, name=f"cyc{seed}")
    db.validate()
    return db


def walk_bound(n_rows: int, width: int) -> int:
    """Loop steps plus pushes of one walk (no forecast tasks): each emitted row pushes at most
    MAX_F2P parents and ``width`` children; every push is popped once; one bucket switch per push."""
    return 3 * n_rows * (MAX_F2P + width) + 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st_.integers(0, 2**31), n_tables=st_.integers(1, 4), max_rows=st_.integers(1, 40),
       dup=st_.sampled_from([0.0, 0.5, 1.0]), null=st_.sampled_from([0.0, 0.3]), timed=st_.sampled_from([0.0, 0.5, 1.0]),
       width=st_.integers(1, 12), ctx=st_.integers(8, 300), peers=st_.sampled_from([0, 3]))
@pytest.mark.timeout(300, method="thread")  # a walk that never ends is a failure, not a hung suite
def test_property_walks_end_within_bounded_work_on_cyclic_graphs(seed, n_tables, max_rows, dup, null, timed, width,
                                                                 ctx, peers):
    db = random_graph_db(seed, n_tables, max_rows, dup, null, timed)
    store = embed_store(build_cells(db), "hash:8")
    table = f"t{seed % n_tables}"
    try:
        task = resolve_task(store, f"{table}.x", "train", ctx_len=ctx)
    except RelforgeError as e:
        assert "smaller than one row" in str(e)
        return
    s = ContextSampler([task], SamplerConfig(ctx_len=ctx, max_bfs_width=width, batch_size=4, seed=seed, peers=peers))
    for seed_node in task.seeds[:12]:
        before = s.work
        b = s.context(0, int(seed_node))
        after = s.work
        n_rows = int(b["n_rows"][0])
        assert 1 <= n_rows <= ctx
        assert after["steps"] - before["steps"] <= walk_bound(n_rows, width)
        # random child draws only happen with more distinct children than ``width``; each draw is
        # a fresh one with probability >= 1/(width + 1), so 64x the expected count never happens
        assert after["draws"] - before["draws"] <= 64 * (width + 1) * width * n_rows
        check_batch(store, s, b)


def test_repeated_children_are_subsampled_among_distinct_rows():
    """A parent whose child list repeats each child twice (two keys to the same row) and has fewer
    distinct children than ``width`` but more positions: every distinct child is reached, no draw."""
    n = 30
    users = pd.DataFrame({"id": [0], "x": [1.0]})
    posts = pd.DataFrame({"id": np.arange(n), "owner": np.zeros(n), "editor": np.zeros(n), "x": np.arange(n) * 1.0})
    db = Database({"users": Table(users, "id", {}, None),
                   "posts": Table(posts, "id", {"owner": "users", "editor": "users"}, None, kind="activity")})
    store = embed_store(build_cells(db), "hash:8")
    s = ContextSampler([(store, "users.x", "train")], SamplerConfig(ctx_len=4 * n, max_bfs_width=40, batch_size=1))
    b = s.context(0, 0)
    assert int(b["n_rows"][0]) == n + 1  # the user and all 30 posts (60 child positions > width 40 > 30 rows)
    assert s.work["draws"] == 0


def qa_sqlite(path, n_users=60, n_questions=150, hot_posts=40, seed=0):
    """A Q&A site: users; posts (questions and answers) with ParentId -> posts and AcceptedAnswerId ->
    posts (row cycles question <-> accepted answer), OwnerUserId and LastEditorUserId -> users (often the
    same user), users.PinnedPostId -> posts (a table cycle through a nullable key); votes; comments."""
    rng = np.random.default_rng(seed)
    con = sqlite3.connect(path)
    con.executescript("""
    CREATE TABLE users (Id INTEGER PRIMARY KEY, DisplayName TEXT, Reputation INTEGER,
        CreationDate DATETIME NOT NULL, BirthDate DATE, LastAccessDate DATETIME,
        PinnedPostId INTEGER REFERENCES posts(Id));
    CREATE TABLE posts (Id INTEGER PRIMARY KEY, PostTypeId INTEGER, ParentId INTEGER REFERENCES posts(Id),
        AcceptedAnswerId INTEGER REFERENCES posts(Id), OwnerUserId INTEGER REFERENCES users(Id),
        LastEditorUserId INTEGER REFERENCES users(Id), Score INTEGER, Body TEXT, CreationDate DATETIME NOT NULL,
        LastEditDate DATETIME);
    CREATE TABLE votes (Id INTEGER PRIMARY KEY, PostId INTEGER REFERENCES posts(Id),
        UserId INTEGER REFERENCES users(Id), VoteTypeId INTEGER, CreationDate DATETIME);
    CREATE TABLE comments (Id INTEGER PRIMARY KEY, PostId INTEGER REFERENCES posts(Id),
        UserId INTEGER REFERENCES users(Id), Text TEXT, CreationDate DATETIME);
    """)
    ts = lambda h: str(T0 + pd.Timedelta(hours=int(h)))  # noqa: E731
    posts, pid = [], 0
    for q in range(n_questions):
        qid, t = pid, 10 * n_users + 5 * q
        n_ans = int(rng.integers(0, 4))
        aids = list(range(qid + 1, qid + 1 + n_ans))
        pid = qid + 1 + n_ans
        owner = 0 if qid < hot_posts else int(rng.integers(0, n_users))  # user 0 writes and edits many posts
        posts.append((qid, 1, None, aids[-1] if aids else None, owner, owner, int(rng.integers(-3, 40)),
                      f"question {q}", ts(t), ts(t + 30)))
        for a in aids:
            u = 0 if a < hot_posts else int(rng.integers(0, n_users))
            posts.append((a, 2, qid, None, u, u, int(rng.integers(-3, 40)), f"answer {a}", ts(t + 1 + a - qid), None))
    users = [(u, f"user {u}", int(rng.integers(1, 5000)), ts(10 * u), "1990-05-01", ts(10**5),
              int(rng.integers(0, pid)) if u % 3 == 0 else None) for u in range(n_users)]
    con.executemany("INSERT INTO users VALUES (?,?,?,?,?,?,?)", users)
    con.executemany("INSERT INTO posts VALUES (?,?,?,?,?,?,?,?,?,?)", posts)
    votes = [(i, int(rng.integers(0, pid)), int(rng.integers(0, n_users)), 2, ts(10 * n_users + rng.integers(0, 5 * n_questions)))
             for i in range(4 * pid)]
    con.executemany("INSERT INTO votes VALUES (?,?,?,?,?)", votes)
    comments = [(i, int(rng.integers(0, pid)), int(rng.integers(0, n_users)), f"comment {i}",
                 ts(10 * n_users + rng.integers(0, 5 * n_questions))) for i in range(pid)]
    con.executemany("INSERT INTO comments VALUES (?,?,?,?,?)", comments)
    con.commit()
    con.close()
    return path


@pytest.mark.timeout(300, method="thread")
@pytest.mark.parametrize("task", ["users.Reputation", "posts.Score", "votes.VoteTypeId"])
def test_qa_schema_samples_like_relforge_sample(tmp_path, task):
    """The reported hang: `relforge tokenize` + `relforge sample` on a Q&A database with row cycles,
    a table cycle and repeated keys return a batch (here every seed of the task, width 16)."""
    db_path = qa_sqlite(tmp_path / "qa.sqlite")
    db = relforge.load(db_path)
    assert db["posts"].fkey_col_to_pkey_table == {"ParentId": "posts", "AcceptedAnswerId": "posts",
                                                  "OwnerUserId": "users", "LastEditorUserId": "users"}
    assert db["users"].fkey_col_to_pkey_table == {"PinnedPostId": "posts"}
    tokenize_source(db_path, tmp_path / "store", embedder="hash:8")
    r = summarize_batch_for(tmp_path / "store", task, ctx_len=256, width=16, batch_size=8)
    assert r["n_seeds"] > 0 and r["targets_per_context"] == [1] * 8
    from relforge.tokenize.store import open_store

    store = open_store(tmp_path / "store")
    s = ContextSampler([(store, task, "train")], SamplerConfig(ctx_len=256, max_bfs_width=16, batch_size=32))
    tm = np.asarray(store["node_time"])
    for b in range(s.num_batches):
        before = s.work["steps"]
        batch = s.batch(b)
        check_batch(store, s, batch)
        assert s.work["steps"] - before <= sum(walk_bound(int(n), 16) for n in batch["n_rows"])
        for i, seed in enumerate(batch["seed_row"]):  # timed entity rows too: nothing after the seed
            rows = batch["row_node"][i][: batch["n_rows"][i]]
            assert np.all((tm[rows] == UNTIMED) | (tm[rows] <= tm[seed]))
