"""DuckDB / SQLite export and import: round trips, declared constraints, real Chinook, bad files."""
import sqlite3

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relforge.db import Database, Stype, Table
from relforge.db import sql_io
from relforge.db.io import export_database
from relforge.db.sql_io import read_duckdb, read_sqlite, to_duckdb, to_sqlite
from relforge.errors import RelforgeError

WRITERS = [(to_duckdb, read_duckdb, "db.duckdb"), (to_sqlite, read_sqlite, "db.sqlite")]
IDS = ["duckdb", "sqlite"]


def assert_same_db(a: Database, b: Database, dtypes: bool = True):
    assert list(a.tables) == list(b.tables)
    for n in a.tables:
        ta, tb = a[n], b[n]
        assert (ta.pkey_col, ta.fkey_col_to_pkey_table, ta.time_col, ta.kind) == \
               (tb.pkey_col, tb.fkey_col_to_pkey_table, tb.time_col, tb.kind), n
        assert ta.stypes == tb.stypes, n
        pd.testing.assert_frame_equal(ta.df.reset_index(drop=True), tb.df.reset_index(drop=True), check_dtype=dtypes)
    assert (a.val_timestamp, a.test_timestamp) == (b.val_timestamp, b.test_timestamp)


@pytest.mark.parametrize("write,read,fname", WRITERS, ids=IDS)
def test_round_trip_toy_exact(tmp_path, toy_db, write, read, fname):
    path = write(toy_db, tmp_path / fname)
    back = read(path)
    assert_same_db(toy_db, back)
    assert back.content_hash() == toy_db.content_hash()
    assert back.name == "toy" and back.meta == {"seed": 0}
    assert [p.name for p in tmp_path.iterdir()] == [fname]  # no temp or journal files left


@pytest.mark.parametrize("write,read,fname", WRITERS, ids=IDS)
def test_round_trip_generated(tmp_path, gen_db, write, read, fname):
    back = read(write(gen_db, tmp_path / fname))
    assert_same_db(gen_db, back)
    assert back.content_hash() == gen_db.content_hash()
    back.validate()


@pytest.mark.parametrize("write,read,fname", WRITERS, ids=IDS)
def test_keys_come_from_catalog(tmp_path, toy_db, write, read, fname):
    """Without the metadata row: keys from the catalog, datetimes parsed, kinds and time column derived."""
    back = read(write(toy_db, tmp_path / fname, metadata=False))
    assert sorted(back.tables) == sorted(toy_db.tables)
    for n, t in toy_db.tables.items():
        assert back[n].pkey_col == t.pkey_col
        assert back[n].fkey_col_to_pkey_table == t.fkey_col_to_pkey_table
        assert back[n].kind == t.kind
    orders = back["orders"]
    assert orders.time_col == "ts"
    assert pd.api.types.is_datetime64_any_dtype(orders.df["ts"].dtype)
    np.testing.assert_array_equal(orders.df["ts"].to_numpy("datetime64[s]"), toy_db["orders"].df["ts"].to_numpy("datetime64[s]"))
    users = back["users"]
    users_df = users.df.sort_values("user_id")  # DuckDB loads a self-referencing table roots first
    assert users_df["name"].tolist() == toy_db["users"].df["name"].tolist()  # quotes survive
    assert users.stypes["vip"] == Stype.boolean and users_df["vip"].tolist() == toy_db["users"].df["vip"].tolist()
    assert back["items"].df["in stock"].isna().sum() == 1
    assert back["items"].df["price"].isna().sum() == 1
    assert back["orders"].df["qty"].dtype == "Int64"
    back.validate()


def test_sqlite_constraints_enforced(tmp_path, toy_db):
    path = to_sqlite(toy_db, tmp_path / "db.sqlite")
    con = sqlite3.connect(path)
    con.execute("PRAGMA foreign_keys=ON")
    assert con.execute("PRAGMA foreign_key_check").fetchall() == []
    with pytest.raises(sqlite3.IntegrityError):
        con.execute('INSERT INTO "orders" ("order_id", "user_id", "item_id") VALUES (999, 12345, 0)')
    with pytest.raises(sqlite3.IntegrityError):  # self reference
        con.execute('INSERT INTO "users" ("user_id", "referrer") VALUES (999, 4242)')
    with pytest.raises(sqlite3.IntegrityError):
        con.execute('INSERT INTO "items" ("item_id") VALUES (0)')
    con.execute('INSERT INTO "users" ("user_id", "referrer") VALUES (999, 0)')  # a valid row is accepted
    con.close()


def test_duckdb_constraints_enforced(tmp_path, toy_db):
    path = to_duckdb(toy_db, tmp_path / "db.duckdb")
    con = duckdb.connect(str(path))
    with pytest.raises(duckdb.ConstraintException):
        con.execute('INSERT INTO "items" ("item_id") VALUES (0)')
    with pytest.raises(duckdb.ConstraintException):
        con.execute('INSERT INTO "orders" ("order_id", "user_id", "item_id") VALUES (999, 12345, 0)')
    with pytest.raises(duckdb.ConstraintException):
        con.execute('INSERT INTO "users" ("user_id", "referrer") VALUES (999, 4242)')
    con.execute('INSERT INTO "users" ("user_id", "referrer") VALUES (999, 0)')
    cons = con.execute("SELECT table_name, constraint_type, constraint_column_names, referenced_table "
                       "FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY'").fetchall()
    con.close()
    assert {(t, tuple(c), r) for t, _, c, r in cons} == {
        ("users", ("referrer",), "users"), ("orders", ("user_id",), "users"), ("orders", ("item_id",), "items")}


def test_deep_self_reference_chain_duckdb(tmp_path):
    """A self-FK chain whose children precede their parents in row order (loaded level by level)."""
    n = 120
    parent = pd.array(list(range(1, n)) + [None], dtype="Int64")  # row i -> i+1; the last row is the root
    t = Table(pd.DataFrame({"id": np.arange(n, dtype=np.int64), "parent": parent, "x": np.arange(n) * 0.5}),
              "id", {"parent": "t"})
    db = Database({"t": t})
    back = read_duckdb(to_duckdb(db, tmp_path / "chain.duckdb"))
    pd.testing.assert_frame_equal(back["t"].df, t.df)
    keys, levels = sql_io._self_ref_plan(t, "t")
    assert keys == ["parent"] and levels.max() == n - 1


@pytest.mark.parametrize("write,read,fname", WRITERS, ids=IDS)
def test_self_reference_cycles_round_trip(tmp_path, write, read, fname):
    """Rows that reference each other in a cycle (a Q&A site: a question's AcceptedAnswerId points to
    an answer whose ParentId points back; a row that is its own parent): the file is written, DuckDB
    declares only the keys whose rows are acyclic, and every key reads back from the metadata row."""
    posts = pd.DataFrame({
        "Id": np.arange(6, dtype=np.int64),
        "ParentId": pd.array([None, 0, 0, None, 3, None], dtype="Int64"),          # answers -> questions
        "AcceptedAnswerId": pd.array([2, None, None, 4, None, 5], dtype="Int64"),  # questions -> answers (cycles), a self-loop
        "Score": np.arange(6) * 1.0})
    ring = pd.DataFrame({"id": np.arange(3, dtype=np.int64), "p": pd.array([1, 2, 0], dtype="Int64")})
    db = Database({"posts": Table(posts, "Id", {"ParentId": "posts", "AcceptedAnswerId": "posts"}),
                   "ring": Table(ring, "id", {"p": "ring"})})
    path = write(db, tmp_path / fname)
    back = read(path)
    assert_same_db(db, back)
    assert back.content_hash() == db.content_hash()
    if write is to_duckdb:
        con = duckdb.connect(str(path), read_only=True)
        declared = con.execute("SELECT table_name, constraint_column_names FROM duckdb_constraints() "
                               "WHERE constraint_type = 'FOREIGN KEY'").fetchall()
        con.close()
        assert [(t, list(c)) for t, c in declared] == [("posts", ["ParentId"])]


@pytest.mark.parametrize("write,read,fname", WRITERS, ids=IDS)
def test_foreign_key_cycle_between_tables(tmp_path, write, read, fname):
    """a.b_id -> b and b.a_id -> a: DuckDB cannot declare the second key; the metadata row keeps it."""
    a = pd.DataFrame({"a_id": np.arange(3, dtype=np.int64), "b_id": pd.array([0, 1, None], dtype="Int64")})
    b = pd.DataFrame({"b_id": np.arange(2, dtype=np.int64), "a_id": pd.array([2, 0], dtype="Int64")})
    db = Database({"a": Table(a, "a_id", {"b_id": "b"}), "b": Table(b, "b_id", {"a_id": "a"})})
    back = read(write(db, tmp_path / fname))
    assert back["a"].fkey_col_to_pkey_table == {"b_id": "b"} and back["b"].fkey_col_to_pkey_table == {"a_id": "a"}
    assert back.content_hash() == db.content_hash()


def test_reserved_table_name(tmp_path):
    db = Database({"_relforge_meta": Table(pd.DataFrame({"x": [1]}))})
    with pytest.raises(RelforgeError, match="reserved"):
        to_sqlite(db, tmp_path / "r.sqlite")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("write,read,fname", WRITERS, ids=IDS)
def test_refuses_existing_file_unless_overwrite(tmp_path, toy_db, write, read, fname):
    target = tmp_path / fname
    target.write_bytes(b"precious")
    with pytest.raises(RelforgeError, match="exists"):
        write(toy_db, target)
    assert target.read_bytes() == b"precious"
    write(toy_db, target, overwrite=True)
    assert read(target).content_hash() == toy_db.content_hash()
    with pytest.raises(RelforgeError, match="folder"):
        write(toy_db, tmp_path)


@pytest.mark.parametrize("write,read,fname", WRITERS, ids=IDS)
def test_crash_mid_write_leaves_nothing(tmp_path, toy_db, monkeypatch, write, read, fname):
    """Fail after some tables were loaded: no file under the final name, no temp file left."""
    hook = "_self_ref_plan" if fname.endswith("duckdb") else "_to_py"  # called per table / per column
    real, calls = getattr(sql_io, hook), {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return real(*a, **k)

    monkeypatch.setattr(sql_io, hook, flaky)
    with pytest.raises(OSError, match="disk full"):
        write(toy_db, tmp_path / fname)
    assert calls["n"] == 3
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("write,read,fname", WRITERS, ids=IDS)
def test_invalid_database_is_refused_before_writing(tmp_path, toy_db, write, read, fname):
    toy_db["orders"].df.loc[0, "item_id"] = 77  # dangling foreign key
    with pytest.raises(RelforgeError, match="item_id"):
        write(toy_db, tmp_path / fname)
    assert not (tmp_path / fname).exists()


@pytest.mark.parametrize("read,kind", [(read_duckdb, "DuckDB"), (read_sqlite, "SQLite")])
def test_corrupt_and_missing_files(tmp_path, read, kind):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all" * 10)
    with pytest.raises(RelforgeError, match=f"not a {kind} database") as e:
        read(junk)
    assert "\n" not in str(e.value)
    with pytest.raises(RelforgeError, match="no such"):
        read(tmp_path / "missing.db")
    # a truncated file with the right magic bytes
    good = tmp_path / ("g.duckdb" if kind == "DuckDB" else "g.sqlite")
    (to_duckdb if kind == "DuckDB" else to_sqlite)(Database({"t": Table(pd.DataFrame({"a": [1, 2]}), "a")}), good)
    trunc = tmp_path / "trunc.db"
    trunc.write_bytes(good.read_bytes()[:200])
    with pytest.raises(RelforgeError) as e:
        read(trunc)
    assert "\n" not in str(e.value)


def test_wrong_format_named(tmp_path, toy_db):
    s = to_sqlite(toy_db, tmp_path / "x.sqlite")
    with pytest.raises(RelforgeError, match="it is a SQLite file"):
        read_duckdb(s)
    d = to_duckdb(toy_db, tmp_path / "x.duckdb")
    with pytest.raises(RelforgeError, match="it is a DuckDB file"):
        read_sqlite(d)


def test_load_database_dispatches_on_suffix(tmp_path, toy_db):
    import relforge

    assert relforge.load(to_sqlite(toy_db, tmp_path / "a.sqlite")).content_hash() == toy_db.content_hash()
    assert relforge.load(to_duckdb(toy_db, tmp_path / "a.duckdb")).content_hash() == toy_db.content_hash()


def test_export_database_checks_all_targets_first(tmp_path, toy_db):
    toy_db.save(tmp_path / "src")
    (tmp_path / "b.sqlite").write_text("x")
    with pytest.raises(RelforgeError, match="b.sqlite"):
        export_database(tmp_path / "src", duckdb=tmp_path / "a.duckdb", sqlite=tmp_path / "b.sqlite")
    assert not (tmp_path / "a.duckdb").exists()
    with pytest.raises(RelforgeError, match="nothing to export"):
        export_database(tmp_path / "src")
    out = export_database(tmp_path / "src", duckdb=tmp_path / "a.duckdb", sqlite=tmp_path / "b.sqlite", overwrite=True)
    assert [p.name for p in out] == ["a.duckdb", "b.sqlite"]


def test_foreign_duckdb_file(tmp_path):
    """A DuckDB file made by someone else: DATE, DECIMAL, a list column, a composite primary key."""
    path = tmp_path / "ext.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE cust (id INTEGER PRIMARY KEY, name VARCHAR, born DATE, bal DECIMAL(10,2), flag BOOLEAN)")
    con.execute("INSERT INTO cust VALUES (1, 'a', '1990-01-02', 1.25, true), (2, 'b', NULL, NULL, NULL)")
    con.execute("CREATE TABLE ord (oid BIGINT PRIMARY KEY, cid INTEGER REFERENCES cust(id), ts TIMESTAMP, "
                "amt DOUBLE, tags VARCHAR[])")
    con.execute("INSERT INTO ord VALUES (10, 1, '2020-01-01 10:00:00', 2.5, ['x']), (11, 2, NULL, NULL, NULL)")
    con.execute("CREATE TABLE pair (a INTEGER, b INTEGER, PRIMARY KEY (a, b))")
    con.close()
    db = read_duckdb(path)
    db.validate()
    assert db["cust"].kind == "entity" and db["ord"].kind == "activity"
    assert db["ord"].fkey_col_to_pkey_table == {"cid": "cust"} and db["ord"].time_col == "ts"
    assert db["pair"].pkey_col is None
    assert pd.api.types.is_datetime64_any_dtype(db["cust"].df["born"].dtype)
    assert db["cust"].df["bal"].tolist()[0] == 1.25
    assert db["ord"].df["tags"].tolist()[0] == "['x']"  # nested values as text
    for write, read, fname in WRITERS:  # and it exports again
        assert read(write(db, tmp_path / fname)).content_hash() == db.content_hash()


def test_chinook_sqlite(real_data_dir, tmp_path):
    path = real_data_dir / "chinook" / "Chinook_Sqlite.sqlite"
    if not path.is_file():
        pytest.skip("Chinook not available")
    db = read_sqlite(path)
    assert len(db.tables) == 11
    con = sqlite3.connect(path)
    for n, t in db.tables.items():
        assert len(t) == con.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0]
    con.close()
    emp = db["Employee"]
    assert emp.pkey_col == "EmployeeId"
    assert emp.fkey_col_to_pkey_table == {"ReportsTo": "Employee"}  # the self reference
    assert emp.df["ReportsTo"].isna().sum() == 1  # the top manager
    assert db["PlaylistTrack"].pkey_col is None  # composite primary key
    assert db["PlaylistTrack"].fkey_col_to_pkey_table == {"PlaylistId": "Playlist", "TrackId": "Track"}
    assert db["Track"].fkey_col_to_pkey_table == {"AlbumId": "Album", "MediaTypeId": "MediaType", "GenreId": "Genre"}
    assert pd.api.types.is_datetime64_any_dtype(db["Invoice"].df["InvoiceDate"].dtype)
    assert db["Invoice"].df["InvoiceDate"].notna().all()
    assert db["InvoiceLine"].kind == "activity" and db["Artist"].kind == "entity"
    assert db["Invoice"].stypes["BillingCity"] in (Stype.text, Stype.categorical)
    db.validate()  # PK uniqueness and every FK value present in its parent
    # and the export keeps all of it
    back = read_duckdb(to_duckdb(db, tmp_path / "chinook.duckdb"))
    assert back.content_hash() == db.content_hash()


# ---------------------------------------------------------------- property test: random tables round trip

_col = st.sampled_from(["int", "Int64", "float", "bool", "boolean", "string", "datetime"])


def _column(kind: str, n: int, rng: np.random.Generator) -> pd.Series:
    null = rng.random(n) < 0.3
    if kind == "int":
        return pd.Series(rng.integers(-10**12, 10**12, n), dtype="int64")
    if kind == "Int64":
        return pd.Series(pd.array(np.where(null, None, rng.integers(-5, 5, n)).tolist(), dtype="Int64"))
    if kind == "float":
        x = rng.normal(size=n) * 1e6
        x[null] = np.nan
        return pd.Series(x)
    if kind == "bool":
        return pd.Series(rng.random(n) < 0.5)
    if kind == "boolean":
        return pd.Series(pd.array(np.where(null, None, rng.random(n) < 0.5).tolist(), dtype="boolean"))
    if kind == "string":
        words = np.array(["", "a", "naïve 'x'", 'q"q', "日本", "long " * 5], dtype=object)
        return pd.Series(pd.array(np.where(null, None, words[rng.integers(0, len(words), n)]).tolist(), dtype="string"))
    ts = pd.Series(pd.to_datetime(rng.integers(0, 2 * 10**9, n), unit="s")).astype("datetime64[ns]")
    ts[null] = pd.NaT
    return ts


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(_col, min_size=1, max_size=6), n=st.integers(0, 30), seed=st.integers(0, 2**31))
def test_random_tables_round_trip(tmp_path_factory, kinds, n, seed):
    rng = np.random.default_rng(seed)
    parent = pd.DataFrame({"pk": np.arange(n, dtype=np.int64)})
    for i, k in enumerate(kinds):
        parent[f"c{i}_{k}"] = _column(k, n, rng)
    n_child = 2 * n
    fk = pd.array(np.where(rng.random(n_child) < 0.2, None, rng.integers(0, max(n, 1), n_child)).tolist() if n else
                  [None] * n_child, dtype="Int64")
    child = pd.DataFrame({"id": np.arange(n_child, dtype=np.int64), "fk": fk, "v": rng.normal(size=n_child)})
    db = Database({"parent": Table(parent, "pk", kind="entity"),
                   "child": Table(child, "id", {"fk": "parent"}, kind="activity")})
    db.validate()
    d = tmp_path_factory.mktemp("rt")
    for write, read, fname in WRITERS:
        back = read(write(db, d / fname))
        assert back.content_hash() == db.content_hash(), fname
