"""Time columns of databases read without recorded ones (SQLite/DuckDB files, bare Parquet folders):
detected on entity tables too, overridable with time_cols / --time-col, shown by inspect, and obeyed
by the context sampler for entity rows (no row created after the seed enters its context)."""
import sqlite3

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import relforge
from relforge.cli import app
from relforge.db.sql_io import to_duckdb
from relforge.db.timecols import apply_time_cols, name_kind, parse_time_cols
from relforge.errors import RelforgeError
from relforge.tokenize import ContextSampler, SamplerConfig, build_cells, embed_store
from relforge.tokenize.store import UNTIMED

T0 = pd.Timestamp("2022-01-01")


def forum_sqlite(path, n_users=40, n_posts=300, seed=0):
    """users (CreationDate NOT NULL, BirthDate, LastAccessDate), posts (CreationDate, LastEditDate,
    OwnerUserId -> users created before the post, LastEditorUserId -> any user, often one who joined
    after the post), tags (no date), employees (BirthDate only)."""
    rng = np.random.default_rng(seed)
    ts = lambda h: str(T0 + pd.Timedelta(hours=int(h)))  # noqa: E731
    u_t = np.sort(rng.integers(0, 1000, n_users))
    con = sqlite3.connect(path)
    con.executescript("""
    CREATE TABLE tags (Id INTEGER PRIMARY KEY, Name TEXT);
    CREATE TABLE employees (Id INTEGER PRIMARY KEY, Name TEXT, BirthDate DATE);
    CREATE TABLE users (Id INTEGER PRIMARY KEY, Reputation INTEGER, BirthDate DATE, LastAccessDate DATETIME,
        CreationDate DATETIME NOT NULL, ManagerId INTEGER REFERENCES employees(Id));
    CREATE TABLE posts (Id INTEGER PRIMARY KEY, Score INTEGER, LastEditDate DATETIME, CreationDate DATETIME NOT NULL,
        OwnerUserId INTEGER REFERENCES users(Id), LastEditorUserId INTEGER REFERENCES users(Id),
        TagId INTEGER REFERENCES tags(Id));
    """)
    con.executemany("INSERT INTO tags VALUES (?,?)", [(i, f"tag{i}") for i in range(5)])
    con.executemany("INSERT INTO employees VALUES (?,?,?)", [(i, f"emp{i}", "1980-01-01") for i in range(3)])
    con.executemany("INSERT INTO users VALUES (?,?,?,?,?,?)",
                    [(u, int(rng.integers(1, 999)), "1990-02-03", ts(5000), ts(u_t[u]), u % 3) for u in range(n_users)])
    posts = []
    for p in range(n_posts):
        t = int(rng.integers(u_t[0], 1000))
        owner = int(rng.choice(np.flatnonzero(u_t <= t)))
        posts.append((p, int(rng.integers(-5, 50)), ts(t + 500), ts(t), owner, int(rng.integers(0, n_users)), p % 5))
    con.executemany("INSERT INTO posts VALUES (?,?,?,?,?,?,?)", posts)
    con.commit()
    con.close()
    return path


@pytest.fixture
def forum(tmp_path):
    return forum_sqlite(tmp_path / "forum.sqlite")


def test_name_rule():
    assert [name_kind(n) for n in ("CreationDate", "created_at", "DateCreated", "registered", "OpenDate")] == ["creation"] * 5
    assert [name_kind(n) for n in ("InvoiceDate", "date", "ts", "HireDate", "event_time")] == ["event"] * 5
    assert [name_kind(n) for n in ("BirthDate", "LastEditDate", "updated_at", "DueDate", "end_time", "ClosedDate",
                                   "LastAccessDate", "expires")] == ["other"] * 8


def test_sqlite_entity_tables_get_their_creation_time(forum):
    db = relforge.load(forum)
    assert db["users"].kind == "entity" and db["users"].time_col == "CreationDate"  # not BirthDate / LastAccessDate
    assert db["posts"].time_col == "CreationDate"  # not LastEditDate
    assert db["employees"].time_col is None and db["tags"].time_col is None  # BirthDate only / no date
    why = db.meta["time_col_why"]
    assert why["users"].startswith("name rule: creation") and why["employees"].startswith("no creation or event name")
    # the same choice from DuckDB (no relforge metadata row)
    back = relforge.load(to_duckdb(relforge.load(forum), forum.with_suffix(".duckdb"), metadata=False))
    assert {n: t.time_col for n, t in back.tables.items()} == {n: t.time_col for n, t in db.tables.items()}


def test_bare_parquet_folder_is_detected_relforge_folder_is_not(forum, tmp_path):
    db = relforge.load(forum)
    db.save(tmp_path / "saved")  # relforge metadata: the time columns as recorded, none re-detected
    db2 = apply_time_cols(db, {"users": None})
    db2.save(tmp_path / "saved_none")
    assert relforge.load(tmp_path / "saved_none")["users"].time_col is None
    bare = tmp_path / "bare"
    bare.mkdir()
    for n, t in db.tables.items():
        t.df.to_parquet(bare / f"{n}.parquet")  # no key or time metadata at all
    assert relforge.load(bare)["users"].time_col == "CreationDate"


def test_user_time_cols_override(forum):
    db = relforge.load(forum, time_cols={"users": None, "posts": "LastEditDate", "employees": "BirthDate"})
    assert db["users"].time_col is None and db["posts"].time_col == "LastEditDate"
    assert db["employees"].time_col == "BirthDate" and db["employees"].stypes["BirthDate"].value == "datetime"
    assert db["posts"].stypes["CreationDate"].value == "datetime"  # the old time column stays a feature
    assert db.meta["time_col_why"]["posts"].startswith("user")
    db.validate()
    assert relforge.load(forum, time_cols=["users=", "posts=LastEditDate"])["users"].time_col is None
    # a text column of ISO dates is accepted (parsed); the CLI strings parse the same way
    df_db = apply_time_cols(relforge.load(forum), {"tags": None})
    assert parse_time_cols(["a=x,b=", " c = y "]) == {"a": "x", "b": None, "c": "y"}
    assert df_db["tags"].time_col is None


@pytest.mark.parametrize("spec,needle", [
    ({"nope": "x"}, "unknown table 'nope'"),
    ({"users": "Nope"}, "has no column 'Nope'"),
    ({"users": "Reputation"}, "is not a date/time column"),
    ({"posts": "OwnerUserId"}, "is a key column"),
    (["users"], "expected TABLE=COLUMN"),
    (["=CreationDate"], "expected TABLE=COLUMN"),
    (["users=CreationDate", "users="], "given twice"),
])
def test_bad_time_cols_are_one_line_errors(forum, spec, needle):
    with pytest.raises(RelforgeError, match=needle) as e:
        relforge.load(forum, time_cols=spec)
    assert "\n" not in str(e.value)


runner = CliRunner()


@pytest.mark.parametrize("cmd", ["inspect", "tokenize", "report", "generate", "predict"])
@pytest.mark.parametrize("value,needle", [("nope=x", "unknown table 'nope'"), ("users=Nope", "has no column"),
                                          ("users=Reputation", "not a date/time column"), ("users", "TABLE=COLUMN")])
def test_time_col_cli_errors_are_one_line_exit_2(forum, tmp_path, cmd, value, needle):
    out = tmp_path / "out"
    args = {"inspect": ["inspect", forum], "tokenize": ["tokenize", forum, "--out", out, "--embedder", "hash:8"],
            "report": ["report", forum, "--out", out],
            "generate": ["generate", "--seed", 0, "--out", out, "--like", forum, "--rows", 10],
            "predict": ["predict", "--db", forum, "--table", "posts", "--target", "Score"]}[cmd]
    r = runner.invoke(app, [str(a) for a in args + ["--time-col", value]])
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert not out.exists()


def test_inspect_shows_time_column_and_why(forum):
    r = runner.invoke(app, ["inspect", str(forum), "--no-columns", "--time-col", "posts=LastEditDate"])
    assert r.exit_code == 0, r.stderr
    line = {ln.split(" ")[0]: ln for ln in r.stdout.splitlines()}
    assert "time CreationDate (name rule: creation-like name)" in line["users"]
    assert "time LastEditDate (user" in line["posts"]
    assert "time - (no date/time column)" in line["tags"]


def _later_rows(db, table):
    """For every context of ``table``'s posts: seed time, and the times of timed ``table`` rows in it."""
    store = embed_store(build_cells(db), "hash:8")
    s = ContextSampler([(store, "posts.Score", "train")], SamplerConfig(ctx_len=200, max_bfs_width=16, batch_size=50))
    a, b = store.node_range(table)
    created = pd.to_datetime(db[table].df["CreationDate"]).to_numpy().astype("datetime64[s]").astype(np.int64)
    tm = np.asarray(store["node_time"])
    later = 0
    for k in range(s.num_batches):
        batch = s.batch(k)
        for i, seed in enumerate(batch["seed_row"]):
            rows = batch["row_node"][i][: batch["n_rows"][i]]
            mine = rows[(rows >= a) & (rows < b)]
            later += int((created[mine - a] > tm[seed]).sum())
    return later


def test_timed_entity_table_keeps_later_created_rows_out_of_earlier_contexts(forum):
    """Posts point to their last editor, often a user who joined after the post was written. With
    users timed by CreationDate no such user enters the post's context; untimed (the old reading),
    they do: the rule, not the data, keeps them out."""
    assert _later_rows(relforge.load(forum), "users") == 0
    assert _later_rows(relforge.load(forum, time_cols={"users": None}), "users") > 0


def test_timed_seed_context_holds_no_future_entity_rows(forum):
    db = relforge.load(forum)
    store = embed_store(build_cells(db), "hash:8")
    s = ContextSampler([(store, "users.Reputation", "train")], SamplerConfig(ctx_len=200, max_bfs_width=16,
                                                                             batch_size=40, peers=4))
    tm = np.asarray(store["node_time"])
    b = s.batch(0)
    for i, seed in enumerate(b["seed_row"]):
        rows = b["row_node"][i][: b["n_rows"][i]]
        assert tm[seed] != UNTIMED
        assert np.all((tm[rows] == UNTIMED) | (tm[rows] <= tm[seed]))


def test_generate_like_folder_and_schema_take_time_cols(forum, tmp_path):
    from relforge.generate.sources import schema_generator

    relforge.load(forum).save(tmp_path / "folder")
    gen = schema_generator(None, tmp_path / "folder", rows=10, time_cols=["users=", "posts=LastEditDate"])
    schema = gen.args[0]
    assert schema.tables["users"].time_col is None and schema.tables["posts"].time_col == "LastEditDate"
    ddl = tmp_path / "forum.sql"
    ddl.write_text("CREATE TABLE u (id INT PRIMARY KEY, created_at TIMESTAMP NOT NULL, born DATE NOT NULL);\n"
                   "CREATE TABLE e (id INT PRIMARY KEY, u_id INT REFERENCES u(id), at TIMESTAMP NOT NULL);\n")
    assert schema_generator(ddl, rows=5).args[0].tables["u"].time_col == "created_at"
    assert schema_generator(ddl, rows=5, time_cols=["u="]).args[0].tables["u"].time_col is None
    with pytest.raises(RelforgeError, match="--time-col applies"):
        schema_generator(None, None, time_cols=["u="])
