"""Corpus generation: one database per seed, identical for any worker count, atomic, validated input."""
import json

import pytest

import relforge
from relforge.corpus import describe_corpus, generate_many, generate_to, is_corpus, read_manifest
from relforge.errors import RelforgeError
from relforge.generate.config import load_config

SMALL = {"schema": {"n_tables": (2, 4), "entity_rows": (20, 50), "activity_rows": (50, 120), "n_features": (1, 4)}}


def test_generate_many_layout_records_and_manifest(tmp_path):
    out = tmp_path / "corpus"
    recs = generate_many([3, 1, 7], SMALL, out, progress=False)
    assert [r["seed"] for r in recs] == [3, 1, 7]
    assert sorted(p.name for p in out.iterdir()) == ["corpus.json", "db_000001", "db_000003", "db_000007"]
    for r in recs:
        assert set(r) == {"seed", "path", "tables", "rows", "cells", "content_hash", "seconds"}
        db = relforge.load(r["path"])
        assert db.content_hash() == r["content_hash"]
        assert (len(db.tables), db.n_rows, db.n_cells) == (r["tables"], r["rows"], r["cells"])
        assert db.meta.get("seed") == r["seed"]
    assert len({r["content_hash"] for r in recs}) == 3  # different seeds, different databases
    m = read_manifest(out)
    assert [d["path"] for d in m["databases"]] == ["db_000003", "db_000001", "db_000007"]
    assert m["config_hash"] == load_config(SMALL).hash()
    assert is_corpus(out) and "3 databases" in describe_corpus(out)


def test_same_content_for_any_worker_count(tmp_path):
    a = generate_many([0, 1, 2], SMALL, tmp_path / "w1", workers=1, progress=False)
    b = generate_many([0, 1, 2], SMALL, tmp_path / "w2", workers=2, progress=False)
    assert [r["content_hash"] for r in a] == [r["content_hash"] for r in b]
    assert [r["content_hash"] for r in a] == [relforge.synthesize(s, SMALL).content_hash() for s in (0, 1, 2)]


def test_single_database_goes_directly_into_out(tmp_path):
    recs = generate_to(tmp_path / "one", seed=5, n_dbs=1, config=SMALL, progress=False)
    assert (tmp_path / "one" / "metadata.json").is_file() and not is_corpus(tmp_path / "one")
    assert relforge.load(tmp_path / "one").content_hash() == recs[0]["content_hash"]
    recs = generate_to(tmp_path / "many", seed=5, n_dbs=2, config=SMALL, progress=False)
    assert [r["seed"] for r in recs] == [5, 6] and is_corpus(tmp_path / "many")


@pytest.mark.parametrize("bad", [
    {"schema": {"layouts": ["nope"]}},
    {"schema": {"n_tables": [5, 2]}},
    {"schema": {"entity_rows": [-3, 10]}},
    {"schema": {"n_tables": "many"}},
    {"warp": {"speed": 9}},
])
def test_bad_config_writes_nothing(tmp_path, bad):
    with pytest.raises(RelforgeError, match="invalid config"):
        generate_many([0, 1], bad, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("seeds,msg", [([], "no seeds"), ([1, 1], "distinct"), ([-1], "non-negative"), ([1.5], "integer")])
def test_bad_seeds(tmp_path, seeds, msg):
    with pytest.raises(RelforgeError, match=msg):
        generate_many(seeds, SMALL, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_bad_counts(tmp_path):
    with pytest.raises(RelforgeError, match="positive"):
        generate_to(tmp_path / "o", seed=0, n_dbs=0, config=SMALL)
    with pytest.raises(RelforgeError, match="workers"):
        generate_many([0], SMALL, tmp_path / "o", workers=0)
    assert not (tmp_path / "o").exists()


def test_existing_output_refused_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    generate_many([0], SMALL, out, progress=False)
    before = json.loads((out / "corpus.json").read_text())
    with pytest.raises(RelforgeError, match="not empty"):
        generate_many([0, 1], SMALL, out, progress=False)
    assert json.loads((out / "corpus.json").read_text()) == before and not (out / "db_000001").exists()
    recs = generate_many([0, 1], SMALL, out, overwrite=True, progress=False)
    assert [r["seed"] for r in recs] == [0, 1]
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_worker_failure_leaves_no_half_database(tmp_path, monkeypatch):
    from relforge.db import folder as dbfolder

    real, calls = dbfolder.write_table_parquet, {"n": 0}

    def flaky(t, path):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        real(t, path)

    monkeypatch.setattr(dbfolder, "write_table_parquet", flaky)
    with pytest.raises(OSError):
        generate_many([0, 1], SMALL, tmp_path / "out", progress=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == []
