"""--like: the schema (and row counts) of an existing SQLite/DuckDB file or database folder."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from relforge.db.table import Stype
from relforge.errors import RelforgeError
from relforge.generate.like import generate_like, schema_like
from relforge.generate.sql import constraint_violations, generate_from_schema, read_schema_file

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CHINOOK_ROWS = {"Artist": 275, "Album": 347, "Genre": 25, "MediaType": 5, "Track": 3503, "Playlist": 18,
                "PlaylistTrack": 8715, "Employee": 8, "Customer": 59, "Invoice": 412, "InvoiceLine": 2240}


def test_chinook_sqlite_like(real_data_dir):
    path = real_data_dir / "chinook" / "Chinook_Sqlite.sqlite"
    s = schema_like(path)
    assert {n: t.n_rows for n, t in s.tables.items()} == CHINOOK_ROWS
    assert s.meta["source"] == "like" and s.tables["Invoice"].time_col == "InvoiceDate"
    assert [f.parent for f in s.tables["Employee"].fkeys] == ["Employee"]
    small = schema_like(path, scale=0.05)
    assert small.tables["Track"].n_rows == 175 and small.tables["MediaType"].n_rows == 1  # 5 * 0.05 rounds to 0: at least 1 row
    db = generate_from_schema(small, 4)
    db.validate()
    assert constraint_violations(db, small) == []
    emp = db["Employee"].df
    assert emp["ReportsTo"].isna().iloc[0]  # the first employee is the top manager
    # same structure as the hand-written example schema
    ex = read_schema_file(EXAMPLES / "chinook_schema.sql", "sqlite")
    assert set(ex.tables) == set(s.tables)
    for n in ex.tables:
        assert [c.name for c in ex.tables[n].columns] == [c.name for c in s.tables[n].columns]


def test_duckdb_like(tmp_path):
    import duckdb

    p = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(p))
    con.execute("CREATE TABLE store (id INTEGER PRIMARY KEY, name VARCHAR NOT NULL UNIQUE, "
                "tier VARCHAR CHECK (tier IN ('gold', 'silver')), opened DATE)")
    con.execute("CREATE TABLE sale (id BIGINT PRIMARY KEY, store_id INTEGER REFERENCES store(id), "
                "prev_id BIGINT REFERENCES sale(id), price DECIMAL(8, 2) NOT NULL CHECK (price > 0), "
                "ts TIMESTAMP NOT NULL, note VARCHAR)")
    con.execute("INSERT INTO store VALUES (1, 'a', 'gold', DATE '2020-01-01'), (2, 'b', NULL, NULL)")
    con.execute("INSERT INTO sale VALUES (1, 1, NULL, 2.5, TIMESTAMP '2021-01-01 10:00:00', 'x')")
    con.close()
    s = schema_like(p)
    assert {n: t.n_rows for n, t in s.tables.items()} == {"store": 2, "sale": 1}
    s = schema_like(p, {"store": 30, "sale": 200})
    sale = s.tables["sale"]
    assert sale.time_col == "ts" and {f.parent for f in sale.fkeys} == {"store", "sale"}
    c = {x.name: x for x in s.tables["store"].columns}
    assert c["tier"].labels == ("gold", "silver") and c["name"].unique
    db = generate_from_schema(s, 0)
    assert constraint_violations(db, s) == []
    assert (db["sale"].df["price"] > 0).all()


def test_folder_like_roundtrip(tmp_path):
    from relforge.generate.pipeline import generate_database

    cfg = {"schema": {"n_tables": (3, 4), "entity_rows": (30, 40), "activity_rows": (60, 80), "n_features": (3, 6),
                      "datetime_prob": 0.2, "text_prob": 0.2, "self_ref_prob": 0.5}}
    src = generate_database(11, cfg)
    src.save(tmp_path / "src")
    s = schema_like(tmp_path / "src")
    assert {n: t.n_rows for n, t in s.tables.items()} == {n: len(t) for n, t in src.tables.items()}
    for db in (generate_like(tmp_path / "src", 1, cfg, mode="schema"), generate_like(tmp_path / "src", 1)):
        db.validate()
        assert constraint_violations(db, s) == []
        for n, t in src.tables.items():
            u = db[n]
            assert (u.pkey_col, u.fkey_col_to_pkey_table, u.time_col) == (t.pkey_col, t.fkey_col_to_pkey_table, t.time_col)
            assert set(u.df.columns) <= set(t.df.columns)
            for c in u.feature_cols:
                assert u.stypes[c] == t.stypes[c] or (t.stypes[c] == Stype.categorical and u.stypes[c] == Stype.boolean), (n, c)
        assert db.content_hash() != src.content_hash()
    with pytest.raises(RelforgeError, match="schema only"):
        generate_like(tmp_path / "src", 1, cfg)


def test_like_errors(tmp_path):
    with pytest.raises(RelforgeError, match="no such file"):
        schema_like(tmp_path / "nope.sqlite")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world, not a database")
    with pytest.raises(RelforgeError, match="neither"):
        schema_like(junk)
    with pytest.raises(RelforgeError, match="scale"):
        schema_like(junk, scale=-1)


def test_generated_text_and_datetimes_survive_save_and_sql_export(tmp_path):
    from relforge.db.io import load_database
    from relforge.db.sql_io import read_duckdb, read_sqlite, to_duckdb, to_sqlite

    s = read_schema_file(EXAMPLES / "chinook_schema.sql", "sqlite", n_rows=50)
    db = generate_from_schema(s, 7)
    cols = [("Customer", "Email"), ("Customer", "FirstName"), ("Employee", "HireDate"), ("Invoice", "InvoiceDate"),
            ("Track", "Name"), ("Invoice", "Total")]
    db.save(tmp_path / "pq")
    to_sqlite(db, tmp_path / "x.sqlite")
    to_duckdb(db, tmp_path / "x.duckdb")
    for back in (load_database(tmp_path / "pq"), read_sqlite(tmp_path / "x.sqlite"), read_duckdb(tmp_path / "x.duckdb")):
        for t, c in cols:
            a = db[t].df.set_index(db[t].pkey_col)[c]
            b = back[t].df.set_index(back[t].pkey_col)[c].reindex(a.index)
            if pd.api.types.is_datetime64_any_dtype(a.dtype):
                assert pd.api.types.is_datetime64_any_dtype(b.dtype), (t, c)
                assert (a.isna() == b.isna()).all() and (a.dropna().astype("datetime64[ns]") == b.dropna().astype("datetime64[ns]")).all()
            elif a.dtype == "string":
                assert a.fillna("<NA>").astype(str).tolist() == b.fillna("<NA>").astype(str).tolist(), (t, c)
            else:
                assert np.allclose(a.to_numpy(float), b.to_numpy(float)), (t, c)
        assert constraint_violations(back, s) == []


def test_random_db_text_datetime_columns_survive_sql_export(tmp_path):
    from relforge.db.io import load_database
    from relforge.db.sql_io import read_duckdb, read_sqlite, to_duckdb, to_sqlite
    from relforge.generate.pipeline import generate_database

    cfg = {"schema": {"n_tables": (2, 3), "entity_rows": (20, 30), "activity_rows": (40, 50), "n_features": (6, 10),
                      "datetime_prob": 0.3, "text_prob": 0.3}}
    db = generate_database(21, cfg)
    picked = [(n, c) for n, t in db.tables.items() for c in t.feature_cols if t.stypes[c] in (Stype.text, Stype.datetime)]
    assert picked  # text and datetime feature columns exist
    db.save(tmp_path / "pq")
    to_sqlite(db, tmp_path / "r.sqlite")
    to_duckdb(db, tmp_path / "r.duckdb")
    for back in (load_database(tmp_path / "pq"), read_sqlite(tmp_path / "r.sqlite"), read_duckdb(tmp_path / "r.duckdb")):
        for n, c in picked:
            a, b = db[n].df[c], back[n].df[c]
            assert back[n].stypes[c] == db[n].stypes[c], (n, c)
            if db[n].stypes[c] == Stype.datetime:
                assert (a.isna() == b.isna()).all()
                assert (a.dropna().astype("datetime64[ns]").to_numpy() == b.dropna().astype("datetime64[ns]").to_numpy()).all()
            else:
                assert a.fillna("<NA>").astype(str).tolist() == b.fillna("<NA>").astype(str).tolist(), (n, c)


def test_cli_generate_like_chinook(real_data_dir, tmp_path):
    from relforge.cli import main
    from relforge.db.io import load_database

    src = real_data_dir / "chinook" / "Chinook_Sqlite.sqlite"
    with pytest.raises(SystemExit) as e:
        main(["generate", "--seed", "3", "--out", str(tmp_path / "db"), "--like", str(src), "--rows", "25", "--no-progress"])
    assert e.value.code in (0, None)
    db = load_database(tmp_path / "db")
    assert set(db.tables) == set(CHINOOK_ROWS) and len(db["Invoice"].df) == 25
    s = schema_like(src, 25)
    assert constraint_violations(db, s) == []
