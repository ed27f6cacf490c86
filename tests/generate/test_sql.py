"""SQL schemas: parsed (never executed) into a Schema; generated data obeys every declared constraint."""
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relforge.db.table import Stype
from relforge.errors import RelforgeError
from relforge.generate.sources import parse_rows
from relforge.generate.sql import constraint_violations, generate_from_schema, read_schema_file, schema_from_sql

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL_CFG = {"post": {"nan_frac": (0.05, 0.2)}}


def _gen(schema, seed=0, config=SMALL_CFG):
    db = generate_from_schema(schema, seed, config)
    db.validate()
    assert constraint_violations(db, schema) == []
    return db


def _ancestors_terminate(parent_pos: np.ndarray) -> bool:
    """Following parent pointers (-1 = root) from every row reaches a root: no cycle (pointer doubling)."""
    p = parent_pos.copy()
    for _ in range(int(np.ceil(np.log2(max(len(p), 2)))) + 2):
        nxt = np.where(p >= 0, p[np.maximum(p, 0)], -1)
        if np.array_equal(nxt, p):
            break
        p = nxt
    return bool((p == -1).all())


def _self_ref_positions(db, table, col):
    t = db[table]
    pos = pd.Series(np.arange(len(t.df)), index=t.df[t.pkey_col].to_numpy())
    v = t.df[col]
    out = np.full(len(v), -1)
    out[v.notna().to_numpy()] = pos.loc[v.dropna().to_numpy()].to_numpy()
    return out


# ------------------------------------------------------------------------------- Chinook / F1


def test_chinook_schema_file_generates_with_all_constraints(real_data_dir):
    schema = read_schema_file(EXAMPLES / "chinook_schema.sql", "sqlite", n_rows=120)
    emp = schema.tables["Employee"]
    assert [(f.column, f.parent, f.nullable) for f in emp.fkeys] == [("ReportsTo", "Employee", True)]
    assert schema.tables["Invoice"].time_col == "InvoiceDate"
    assert schema.tables["PlaylistTrack"].pkey is None
    assert schema.meta["unique_together"] == {"PlaylistTrack": [["PlaylistId", "TrackId"]]}
    total = {c.name: c for c in schema.tables["Invoice"].columns}["Total"]
    assert total.scale == 2 and total.stype == Stype.numerical and not total.nullable
    db = _gen(schema, seed=1)
    par = _self_ref_positions(db, "Employee", "ReportsTo")
    assert (par < np.arange(len(par))).all()  # always an earlier employee (or NULL)
    assert _ancestors_terminate(par) and (par == -1).any() and (par >= 0).any()
    inv = db["Invoice"].df
    assert pd.api.types.is_datetime64_any_dtype(inv["InvoiceDate"]) and inv["InvoiceDate"].is_monotonic_increasing
    assert pd.api.types.is_datetime64_any_dtype(db["Employee"].df["HireDate"])
    assert db["Customer"].df["Email"].str.contains("@").all()
    assert db["Customer"].df["Email"].dtype == "string"
    # the DDL stored in the real SQLite file parses to the same structure as the example file
    con = sqlite3.connect(f"file:{real_data_dir / 'chinook' / 'Chinook_Sqlite.sqlite'}?mode=ro", uri=True)
    ddl = ";\n".join(r[0] for r in con.execute("SELECT sql FROM sqlite_master WHERE type='table'")) + ";"
    con.close()
    real = schema_from_sql(ddl, "sqlite", n_rows=120)

    def shape(s):
        return {n: (t.pkey, t.time_col, t.kind, sorted((f.column, f.parent, f.nullable) for f in t.fkeys),
                    [(c.name, c.stype, c.nullable, c.max_len, c.scale) for c in t.columns]) for n, t in s.tables.items()}
    assert shape(real) == shape(schema)


def test_f1_schema_generates_and_children_never_predate_parents():
    schema = read_schema_file(EXAMPLES / "f1_schema.sql", "postgres",
                              n_rows={"circuits": 30, "drivers": 80, "constructors": 40, "races": 100, "results": 400,
                                      "standings": 300, "constructor_results": 200, "constructor_standings": 200,
                                      "qualifying": 300})
    assert schema.tables["races"].time_col == "date" and schema.tables["races"].kind == "entity"
    assert schema.tables["drivers"].time_col is None  # dob is a birth date, not an event time
    db = _gen(schema, seed=2)
    races = db["races"].df.set_index("raceId")["date"]
    for child in ("results", "standings", "qualifying", "constructor_results"):
        df = db[child].df
        assert (df["date"].to_numpy() >= races.loc[df["raceId"].to_numpy()].to_numpy()).all(), child
    res = db["results"].df
    assert res["grid"].min() >= 0 and res["points"].min() >= 0
    assert db["races"].df["year"].between(1950, 2030).all()
    assert db["drivers"].df["driverRef"].is_unique and db["drivers"].df["code"].dropna().str.len().max() <= 3
    assert db["races"].df["time"].dropna().str.match(r"^\d\d:\d\d:\d\d$").all()


def test_same_seed_same_database():
    schema = read_schema_file(EXAMPLES / "chinook_schema.sql", "sqlite", n_rows=60)
    assert generate_from_schema(schema, 5).content_hash() == generate_from_schema(schema, 5).content_hash()
    assert generate_from_schema(schema, 5).content_hash() != generate_from_schema(schema, 6).content_hash()


# ---------------------------------------------------------------------------------- refusal

@pytest.mark.parametrize("stmt,kind", [
    ("INSERT INTO a VALUES (1)", "INSERT"), ("UPDATE a SET id = 2", "UPDATE"), ("DELETE FROM a", "DELETE"),
    ("DROP TABLE a", "DROP"), ("ALTER TABLE a ADD COLUMN b INT", "ALTER"), ("PRAGMA foreign_keys = OFF", "PRAGMA"),
    ("SELECT 1", "SELECT"), ("CREATE VIEW v AS SELECT 1", "CREATE VIEW"), ("CREATE TABLE c AS SELECT 1", "CREATE TABLE AS SELECT"),
    ("VACUUM", "VACUUM"),
])
def test_refuses_statements_that_are_not_create_table(stmt, kind):
    with pytest.raises(RelforgeError, match=f"refusing to run {kind} statement #2"):
        schema_from_sql(f"CREATE TABLE a (id INTEGER PRIMARY KEY);\n{stmt};", "sqlite")


def test_nothing_is_executed(tmp_path):
    target = tmp_path / "evil.db"
    out = tmp_path / "copied.csv"
    for sql, d in [(f"ATTACH DATABASE '{target}' AS evil; CREATE TABLE evil.t (id INT PRIMARY KEY);", "sqlite"),
                   (f"CREATE TABLE a (id INT PRIMARY KEY); COPY a TO '{out}';", "duckdb"),
                   (f"CREATE TABLE a (id INT PRIMARY KEY); COPY (SELECT 1) TO '{out}';", "postgres")]:
        with pytest.raises(RelforgeError, match="refusing"):
            schema_from_sql(sql, d)
    assert not target.exists() and not out.exists()


# ------------------------------------------------------------------------------- parsing


def test_types_constraints_and_ast_check_parsing():
    s = schema_from_sql("""
        CREATE TABLE shop (id INT PRIMARY KEY, name VARCHAR(12) NOT NULL UNIQUE);
        CREATE TABLE sale (
            id BIGINT PRIMARY KEY,
            shop_id INT NOT NULL REFERENCES shop(id),
            paid VARCHAR(1) CHECK (paid IN ('y', 'n')),
            amount_paid DECIMAL(8, 2) CHECK (amount_paid >= 0 AND amount_paid < 1000),
            qty SMALLINT CHECK (qty BETWEEN 1 AND 9),
            rating INT CHECK (rating IN (1, 2, 3, 4, 5)),
            is_gift BOOLEAN, flag TINYINT(1),
            sold_on DATE NOT NULL, note TEXT, at_time TIME,
            kind ENUM('a', 'b', 'c') NOT NULL
        );""", "mysql", n_rows=50)
    sale = s.tables["sale"]
    c = {x.name: x for x in sale.columns}
    # CHECK IN attaches to the named column only (plurel's substring match made "id in" hit "paid in")
    assert c["paid"].labels == ("y", "n") and c["paid"].stype == Stype.categorical
    assert c["amount_paid"].scale == 2 and c["amount_paid"].lo == 0 and c["amount_paid"].hi == pytest.approx(999.99)
    assert (c["qty"].lo, c["qty"].hi, c["qty"].integer) == (1, 9, True)
    assert c["rating"].labels == ("1", "2", "3", "4", "5") and c["rating"].integer
    assert c["is_gift"].stype == Stype.boolean and c["flag"].stype == Stype.boolean
    assert sale.time_col == "sold_on" and sale.kind == "activity"
    assert c["note"].stype == Stype.text and c["at_time"].role == "clock"
    assert c["kind"].labels == ("a", "b", "c") and not c["kind"].nullable
    assert {x.name: x for x in s.tables["shop"].columns}["name"].unique
    db = _gen(s)
    df = db["sale"].df
    assert set(df["rating"].dropna()) <= {1, 2, 3, 4, 5} and df["rating"].dtype == "Int64"
    assert df["qty"].dropna().between(1, 9).all()
    assert db["shop"].df["name"].is_unique and db["shop"].df["name"].str.len().max() <= 12


def test_postgres_enum_type_unique_index_and_self_reference():
    s = schema_from_sql("""
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
        CREATE TABLE person (id SERIAL PRIMARY KEY, mood mood NOT NULL, email TEXT,
                             boss_id INT REFERENCES person(id));
        CREATE UNIQUE INDEX person_email ON person (email);
        CREATE INDEX person_boss ON person (boss_id);""", "postgres", n_rows=80)
    p = s.tables["person"]
    c = {x.name: x for x in p.columns}
    assert c["mood"].labels == ("sad", "ok", "happy") and c["email"].unique
    assert p.fkeys[0].parent == "person" and p.fkeys[0].nullable
    db = _gen(s, seed=3)
    par = _self_ref_positions(db, "person", "boss_id")
    assert (par < np.arange(len(par))).all() and _ancestors_terminate(par)


@pytest.mark.parametrize("sql,msg", [
    ("CREATE TABLE t (id INT PRIMARY KEY, data BLOB)", "table 't' column 'data': unsupported type"),
    ("CREATE TABLE t (id INT PRIMARY KEY, js JSON)", "table 't' column 'js': unsupported type"),
    ("CREATE TABLE t (a INT, b INT, PRIMARY KEY (a, b))", "table 't': composite primary key (a, b)"),
    ("CREATE TABLE p (id INT PRIMARY KEY, code INT); CREATE TABLE c (id INT PRIMARY KEY, pc INT REFERENCES p(code))",
     "not the primary key"),
    ("CREATE TABLE c (id INT PRIMARY KEY, p INT REFERENCES nowhere(id))", "unknown table 'nowhere'"),
    ("CREATE TABLE a (id INT PRIMARY KEY, b_id INT REFERENCES b(id)); CREATE TABLE b (id INT PRIMARY KEY, a_id INT REFERENCES a(id))",
     "cycle"),
    ("CREATE TABLE t (id INT PRIMARY KEY, up INT NOT NULL REFERENCES t(id))", "NOT NULL self-reference"),
    ("CREATE TABLE t (id INT PRIMARY KEY, a INT, a TEXT)", "duplicate column 'a'"),
    ("CREATE TABLE t (id INT PRIMARY KEY, a INT CHECK (a * 2 > id))", "unsupported CHECK"),
    ("CREATE TABLE t (id INT PRIMARY KEY, a INT CHECK (a > 5 AND a < 3))", "leave no value"),
    ("CREATE TABLE t (id INT PRIMARY KEY, a INT GENERATED ALWAYS AS (id + 1))", "computed"),
    ("", "empty"), ("-- only a comment", "no CREATE TABLE"), ("CREATE TABLE (", "cannot parse"),
    ("\x00\x01garbage", "NUL"), ("CREATE TABLE t (id INT PRIMARY KEY)", "unknown SQL dialect"),
])
def test_clear_one_line_errors(sql, msg):
    dialect = "oracle9" if msg == "unknown SQL dialect" else None
    with pytest.raises(RelforgeError) as e:
        schema_from_sql(sql, dialect)
    assert msg in str(e.value) and "\n" not in str(e.value)


def test_rows_and_unique_capacity():
    assert parse_rows(["300"]) == 300 and parse_rows(["a=3", "b=4,c=5"]) == {"a": 3, "b": 4, "c": 5}
    for bad in (["x"], ["a=-1"], ["5", "a=3"]):
        with pytest.raises(RelforgeError):
            parse_rows(bad)
    with pytest.raises(RelforgeError, match="cannot hold 10 rows"):
        schema_from_sql("CREATE TABLE t (id INT PRIMARY KEY, s TEXT UNIQUE CHECK (s IN ('a', 'b')))", n_rows=10)
    with pytest.raises(RelforgeError, match="unknown table"):
        schema_from_sql("CREATE TABLE t (id INT PRIMARY KEY)", n_rows={"nope": 3})


def test_read_schema_file_errors(tmp_path):
    with pytest.raises(RelforgeError, match="not found"):
        read_schema_file(tmp_path / "missing.sql")
    p = tmp_path / "latin.sql"
    p.write_bytes(b"CREATE TABLE t (n VARCHAR(3) CHECK (n IN ('\xe9')))")
    with pytest.raises(RelforgeError, match="not UTF-8"):
        read_schema_file(p)


def test_cli_generate_schema_and_refusal(tmp_path):
    from relforge.cli import app
    from typer.testing import CliRunner

    r = CliRunner().invoke(app, ["generate", "--seed", "0", "--out", str(tmp_path / "db"), "--schema",
                                 str(EXAMPLES / "chinook_schema.sql"), "--dialect", "sqlite", "--rows", "40",
                                 "--no-progress"])
    assert r.exit_code == 0, r.output
    from relforge.db.io import load_database

    db = load_database(tmp_path / "db")
    assert set(db.tables) >= {"Employee", "Invoice", "PlaylistTrack"} and len(db["Invoice"].df) == 40
    bad = tmp_path / "bad.sql"
    bad.write_text("CREATE TABLE a (id INT PRIMARY KEY);\nDROP TABLE a;\n")
    from relforge.cli import main

    with pytest.raises(SystemExit) as e:
        main(["generate", "--seed", "0", "--out", str(tmp_path / "db2"), "--schema", str(bad)])
    assert e.value.code == 2 and not (tmp_path / "db2").exists()


@pytest.mark.parametrize("dialect,sql", [
    ("mysql", """CREATE TABLE IF NOT EXISTS `users` (
      `id` int(11) unsigned NOT NULL AUTO_INCREMENT, `email` varchar(255) NOT NULL,
      `status` enum('active','banned') NOT NULL DEFAULT 'active',
      `created_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP, `score` double DEFAULT NULL,
      PRIMARY KEY (`id`), UNIQUE KEY `email` (`email`), KEY `idx_status` (`status`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
    CREATE TABLE `orders` (`id` bigint NOT NULL AUTO_INCREMENT PRIMARY KEY, `user_id` int(11) unsigned NOT NULL,
      `total` decimal(10,2) NOT NULL, `placed_at` timestamp NOT NULL,
      CONSTRAINT `fk_user` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE) ENGINE=InnoDB;"""),
    ("postgres", """CREATE TABLE public.users (id SERIAL PRIMARY KEY, email TEXT NOT NULL UNIQUE,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(), is_admin BOOLEAN NOT NULL DEFAULT false);
    CREATE TABLE public.posts (id BIGSERIAL PRIMARY KEY, author_id INT NOT NULL REFERENCES users ON DELETE CASCADE,
      parent_id BIGINT REFERENCES posts(id), body TEXT, posted_at TIMESTAMP NOT NULL,
      CONSTRAINT body_len CHECK (char_length(body) <= 280));"""),
    ("sqlite", """CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT COLLATE NOCASE UNIQUE,
      v REAL CHECK (v >= 0)) WITHOUT ROWID, STRICT;
    CREATE TABLE u (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t(id), at DATETIME) STRICT;"""),
    ("duckdb", "CREATE TABLE t (id UBIGINT PRIMARY KEY, h HUGEINT, s STRING, d DATE, ts TIMESTAMP_NS, u UTINYINT);"),
])
def test_real_world_dialect_dumps(dialect, sql):
    s = schema_from_sql(sql, dialect, n_rows=60)
    db = _gen(s, seed=4)
    assert len(db.tables) == len(s.tables)
    if dialect == "postgres":
        assert db["posts"].df["body"].dropna().str.len().max() <= 280
        par = _self_ref_positions(db, "posts", "parent_id")
        assert (par < np.arange(len(par))).all()


SQLITE_DUMP = """-- a SQLite dump: [bracketed] and `backticked` names
CREATE TABLE [Artist]
(
    [ArtistId] INTEGER  NOT NULL,
    [Name] NVARCHAR(120),
    CONSTRAINT [PK_Artist] PRIMARY KEY  ([ArtistId])
);
CREATE TABLE `Album` (
    `AlbumId` INTEGER NOT NULL PRIMARY KEY,
    `Title` NVARCHAR(160) NOT NULL,
    `ArtistId` INTEGER NOT NULL,
    `Released` DATETIME NOT NULL,
    FOREIGN KEY (`ArtistId`) REFERENCES [Artist] ([ArtistId]) ON DELETE NO ACTION ON UPDATE NO ACTION
);
"""


def test_dialect_is_detected_when_not_given(tmp_path):
    """A SQLite dump with [brackets] and backticks needs no --dialect: generic SQL fails on it, sqlite reads it."""
    with pytest.raises(RelforgeError):
        schema_from_sql(SQLITE_DUMP, "postgres")
    s = schema_from_sql(SQLITE_DUMP, n_rows=30)
    assert s.meta["dialect"] == "sqlite" and list(s.tables) == ["Artist", "Album"]
    assert s.tables["Album"].pkey == "AlbumId" and [fk.parent for fk in s.tables["Album"].fkeys] == ["Artist"]
    assert s.tables["Album"].time_col == "Released"
    _gen(s)
    # files generic SQL reads keep the generic reading (unchanged schemas)
    assert schema_from_sql("CREATE TABLE t (id INT PRIMARY KEY, x REAL)").meta["dialect"] is None
    from relforge.cli import app
    from typer.testing import CliRunner

    dump = tmp_path / "dump.sql"
    dump.write_text(SQLITE_DUMP)
    r = CliRunner().invoke(app, ["generate", "--seed", "0", "--out", str(tmp_path / "db"), "--schema", str(dump),
                                 "--rows", "20", "--no-progress"])
    assert r.exit_code == 0, r.output


def test_unparseable_schema_names_statement_line_and_column(tmp_path):
    broken = ("CREATE TABLE a (id INT PRIMARY KEY);\n\n-- a comment; with a semicolon\n"
              "CREATE TABLE b (id INT PRIMARY KEY,\n  x INT REFERENCES a(id)\n  y INT);\n")
    with pytest.raises(RelforgeError) as e:
        schema_from_sql(broken)
    msg = str(e.value)
    assert "\n" not in msg and "statement #2 ('CREATE TABLE b (id INT PRIMARY KEY, x INT REFERENCES a(id) ...')" in msg
    assert "line 6, column" in msg and "--dialect" in msg and "<Token" not in msg, msg
    with pytest.raises(RelforgeError, match="as mysql: statement #2 .* at line 6") as e:
        schema_from_sql(broken, "mysql")
    from relforge.cli import app
    from typer.testing import CliRunner

    bad = tmp_path / "broken.sql"
    bad.write_text(broken)
    r = CliRunner().invoke(app, ["generate", "--seed", "0", "--out", str(tmp_path / "db"), "--schema", str(bad)])
    lines = r.stderr.strip("\n").split("\n")
    assert r.exit_code == 2 and len(lines) == 1 and "line 6" in lines[0] and "--dialect" in lines[0], r.stderr
    assert not (tmp_path / "db").exists()
