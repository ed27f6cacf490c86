"""Parquet folder I/O (save/load, atomic writes, corrupt input) and relbench compatibility."""
import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import relforge
from relforge.db import folder as dbfolder
from relforge.db.io import load_database, save_database
from relforge.db.relbench_io import from_relbench, to_relbench
from relforge.errors import RelforgeError

ANCHOR_PY = Path.home() / ".cache" / "relforge-anchors" / "venv" / "bin" / "python"


def test_save_load_round_trip(tmp_path, toy_db, gen_db):
    for db in (toy_db, gen_db):
        out = tmp_path / db.name
        save_database(db, out)
        assert sorted(p.name for p in out.iterdir()) == ["db", "metadata.json"]
        back = relforge.load(out)
        assert back.content_hash() == db.content_hash()
        assert list(back.tables) == list(db.tables)
        for n, t in db.tables.items():
            assert back[n].stypes == t.stypes and back[n].kind == t.kind and back[n].time_col == t.time_col


def test_saved_files_are_not_private(tmp_path, toy_db):
    """Atomic writes go through mkdtemp/mkstemp (mode 0700/0600); the result gets the usual mode."""
    old = os.umask(0o022)
    try:
        save_database(toy_db, tmp_path / "db0")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "db0").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "db0" / "metadata.json").stat().st_mode) == 0o644


def test_refuses_non_empty_folder_and_keeps_it(tmp_path, toy_db):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(RelforgeError, match="not empty"):
        save_database(toy_db, out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
    save_database(toy_db, out, overwrite=True)
    assert not (out / "keep.txt").exists() and relforge.load(out).content_hash() == toy_db.content_hash()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp or .old folders left


def test_crash_mid_write_leaves_no_half_database(tmp_path, toy_db, monkeypatch):
    real, calls = dbfolder.write_table_parquet, {"n": 0}

    def flaky(t, path):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        real(t, path)

    monkeypatch.setattr(dbfolder, "write_table_parquet", flaky)
    with pytest.raises(OSError, match="disk full"):
        save_database(toy_db, tmp_path / "db0")
    assert list(tmp_path.iterdir()) == []
    # an existing database survives a failed overwrite untouched
    monkeypatch.setattr(dbfolder, "write_table_parquet", real)
    save_database(toy_db, tmp_path / "db0")
    h = relforge.load(tmp_path / "db0").content_hash()
    calls["n"] = 0
    monkeypatch.setattr(dbfolder, "write_table_parquet", flaky)
    with pytest.raises(OSError):
        save_database(toy_db, tmp_path / "db0", overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["db0"]
    assert relforge.load(tmp_path / "db0").content_hash() == h


def test_corrupt_inputs_are_one_line_errors(tmp_path, toy_db):
    save_database(toy_db, tmp_path / "a")
    f = tmp_path / "a" / "db" / "orders.parquet"
    f.write_bytes(f.read_bytes()[:100])
    with pytest.raises(RelforgeError, match="orders.parquet") as e:
        load_database(tmp_path / "a")
    assert "\n" not in str(e.value)

    save_database(toy_db, tmp_path / "b")
    (tmp_path / "b" / "metadata.json").write_text("{not json")
    with pytest.raises(RelforgeError, match="metadata"):
        load_database(tmp_path / "b")

    save_database(toy_db, tmp_path / "c")
    (tmp_path / "c" / "db" / "items.parquet").unlink()
    with pytest.raises(RelforgeError, match="items"):
        load_database(tmp_path / "c")

    with pytest.raises(RelforgeError, match="no such database"):
        load_database(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RelforgeError, match="no Parquet tables"):
        load_database(tmp_path / "empty")


def test_self_reference_does_not_make_an_entity(tmp_path, gen_db):
    """Kinds derived from references (relbench folders, SQL files) ignore self-references, as the generator."""
    save_database(gen_db, tmp_path / "g")
    (tmp_path / "g" / "metadata.json").unlink()
    back = load_database(tmp_path / "g")
    assert {n: t.kind for n, t in back.tables.items()} == {n: t.kind for n, t in gen_db.tables.items()}


def test_plain_relbench_folder_loads(tmp_path, toy_db):
    """Only db/*.parquet with relbench's key metadata (no metadata.json): kinds derived from references."""
    save_database(toy_db, tmp_path / "rb")
    (tmp_path / "rb" / "metadata.json").unlink()
    back = load_database(tmp_path / "rb")
    for n, t in toy_db.tables.items():
        assert (back[n].pkey_col, back[n].fkey_col_to_pkey_table, back[n].time_col, back[n].kind) == \
               (t.pkey_col, t.fkey_col_to_pkey_table, t.time_col, t.kind)
        pd.testing.assert_frame_equal(back[n].df, t.df)


def test_to_relbench_without_relbench_is_a_clear_error(toy_db):
    try:
        import relbench  # noqa: F401
    except ImportError:
        with pytest.raises(RelforgeError, match=r"relbench is not installed \(pip install relforge\[relbench\]\)"):
            to_relbench(toy_db)
    else:
        pytest.skip("relbench is installed")


def test_relbench_objects_round_trip(toy_db):
    pytest.importorskip("relbench")
    rb = to_relbench(toy_db)
    assert set(rb.table_dict) == set(toy_db.tables)
    back = from_relbench(rb, toy_db.val_timestamp, toy_db.test_timestamp, name="toy")
    for n, t in toy_db.tables.items():
        assert (back[n].pkey_col, back[n].fkey_col_to_pkey_table, back[n].time_col, back[n].kind) == \
               (t.pkey_col, t.fkey_col_to_pkey_table, t.time_col, t.kind)
        pd.testing.assert_frame_equal(back[n].df, t.df)


def test_from_relbench_duck_typed(toy_db):
    """from_relbench only needs ``table_dict`` of objects with relbench's four attributes."""

    class RBTable:
        def __init__(self, t):
            self.df, self.pkey_col, self.fkey_col_to_pkey_table, self.time_col = (
                t.df, t.pkey_col, t.fkey_col_to_pkey_table, t.time_col)

    class RBDatabase:
        table_dict = {n: RBTable(t) for n, t in toy_db.tables.items()}

    back = from_relbench(RBDatabase(), "2020-02-01", None)
    assert back["users"].kind == "entity" and back["orders"].kind == "activity"
    assert back.val_timestamp == pd.Timestamp("2020-02-01") and back.test_timestamp is None
    with pytest.raises(RelforgeError, match="table_dict"):
        from_relbench(object())


@pytest.mark.skipif(not ANCHOR_PY.exists(), reason="anchor venv with relbench not present")
def test_relbench_compatibility_in_anchor_venv(tmp_path, toy_db, gen_db):
    """Against the real relbench 1.1 (anchor venv, our src on PYTHONPATH there), in one subprocess:
    relbench's own ``Database.load`` reads our saved ``db/`` folders (on-disk compatibility, keys
    included), and ``to_relbench`` / ``from_relbench`` round-trip."""
    expect = {}
    for db in (toy_db, gen_db):
        save_database(db, tmp_path / db.name)
        expect[db.name] = {n: [len(t), t.pkey_col, t.fkey_col_to_pkey_table, t.time_col,
                               sorted(map(str, t.df.columns))] for n, t in db.tables.items()}
    script = textwrap.dedent("""
        import json, sys
        from relbench.base import Database
        out = {}
        for name in sys.argv[2:]:
            db = Database.load(sys.argv[1] + "/" + name + "/db")
            out[name] = {n: [len(t.df), t.pkey_col, t.fkey_col_to_pkey_table, t.time_col, sorted(map(str, t.df.columns))]
                         for n, t in db.table_dict.items()}
            db.reindex_pkeys_and_fkeys()  # exercises the keys end to end
        import relforge
        from relforge.db.relbench_io import from_relbench, to_relbench
        for name in sys.argv[2:]:
            ours = relforge.load(sys.argv[1] + "/" + name)
            rb = to_relbench(ours)
            assert isinstance(rb, Database), type(rb)
            back = from_relbench(rb, ours.val_timestamp, ours.test_timestamp, name=ours.name)
            assert back.content_hash() == ours.content_hash(), name
            assert all(back[n].kind == t.kind for n, t in ours.tables.items()), name
        print(json.dumps(out))
    """)
    src = Path(relforge.__file__).resolve().parents[1]
    r = subprocess.run([str(ANCHOR_PY), "-c", script, str(tmp_path), *expect], capture_output=True, text=True,
                       timeout=180, env={**os.environ, "PYTHONPATH": str(src)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == expect


def test_structure_hash_ignores_cells_and_sees_everything_else(toy_db):
    """``structure_hash`` (the CPU-independent part of a generated database) is blind to cell
    values and changes with a row, a column name or a dtype; ``content_hash`` sees the cells."""
    import dataclasses

    name = sorted(toy_db.tables)[0]
    t = toy_db.tables[name]
    col = next(c for c in t.df.columns if c != t.pkey_col and c not in t.fkey_col_to_pkey_table)

    def with_df(df):
        return dataclasses.replace(toy_db, tables={**toy_db.tables, name: dataclasses.replace(t, df=df)})

    df = t.df.copy()
    df[col] = df[col].iloc[::-1].set_axis(df.index)  # other cells, same dtype
    assert not df[col].equals(t.df[col])
    other = with_df(df)
    assert other.structure_hash() == toy_db.structure_hash() and other.content_hash() != toy_db.content_hash()
    assert with_df(t.df.iloc[:-1]).structure_hash() != toy_db.structure_hash()
    assert with_df(t.df.rename(columns={col: col + "_x"})).structure_hash() != toy_db.structure_hash()
    assert with_df(t.df.astype({col: "object"})).structure_hash() != toy_db.structure_hash()
