"""Resumable corpora (``relforge corpus``): manifest records, kill -9 and resume, refusal cases."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relforge.corpus import (JSONL_MANIFEST, build_corpus, db_folder_name, read_jsonl_manifest, read_manifest,
                             verify_corpus)
from relforge.db.io import load_database
from relforge.errors import RelforgeError
from relforge.generate.config import load_config
from relforge.generate.pipeline import generate_database

SMALL = dict(schema=dict(n_tables=(3, 4), entity_rows=(30, 60), activity_rows=(60, 120), n_features=(2, 4)))


@pytest.fixture(scope="module")
def small_toml(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cfg") / "small.toml"
    p.write_text("[schema]\nn_tables = [3, 4]\nentity_rows = [30, 60]\nactivity_rows = [60, 120]\nn_features = [2, 4]\n")
    return p


def _folder_hash(folder: Path) -> str:
    return json.loads((folder / "metadata.json").read_text())["meta"]["content_hash"]


def failing_generator(seed, cfg):
    if seed == 2:
        raise RelforgeError("seed 2 cannot be realised")
    return generate_database(seed, cfg)


def test_manifest_records_and_growth(tmp_path):
    out = tmp_path / "c"
    r = build_corpus(out, 3, offset=5, config=SMALL, progress=False)
    assert (r["generated"], r["skipped"], r["failed"]) == (3, 0, 0)
    recs = read_jsonl_manifest(out)
    assert [x["seed"] for x in recs] == [5, 6, 7]
    cfg = load_config(SMALL)
    for x in recs:
        assert x["status"] == "ok" and x["config_hash"] == cfg.hash()
        assert {"tables", "rows", "content_hash", "seconds"} <= set(x)
        db = load_database(out / x["path"])
        assert db.content_hash() == x["content_hash"] == _folder_hash(out / x["path"])
        assert len(db.tables) == x["tables"] and db.n_rows == x["rows"]
    # growing the corpus generates only the new seeds; corpus.json (generate_many's manifest) follows
    mtime = (out / db_folder_name(5) / "metadata.json").stat().st_mtime_ns
    r2 = build_corpus(out, 5, offset=5, config=SMALL, progress=False)
    assert (r2["generated"], r2["skipped"]) == (2, 3)
    assert (out / db_folder_name(5) / "metadata.json").stat().st_mtime_ns == mtime
    assert [d["seed"] for d in read_manifest(out)["databases"]] == [5, 6, 7, 8, 9]


def test_untrusted_records_are_regenerated(tmp_path):
    out = tmp_path / "c"
    build_corpus(out, 4, config=SMALL, progress=False)
    good = {x["seed"]: x["content_hash"] for x in read_jsonl_manifest(out)}
    # a tampered folder, a deleted folder, a torn last manifest line, leftovers of a killed save
    meta = out / db_folder_name(1) / "metadata.json"
    m = json.loads(meta.read_text())
    m["meta"]["content_hash"] = "0" * 64
    meta.write_text(json.dumps(m))
    import shutil

    shutil.rmtree(out / db_folder_name(3))
    with open(out / JSONL_MANIFEST, "a") as fh:
        fh.write('{"seed": 0, "status": "ok", "conte')
    (out / ".db_000002.tmp-abc").mkdir()
    assert sorted(verify_corpus(out)) == [0, 2]
    r = build_corpus(out, 4, config=SMALL, progress=False)
    assert (r["generated"], r["skipped"]) == (2, 2)
    assert {x["seed"]: x["content_hash"] for x in read_jsonl_manifest(out)} == good
    assert _folder_hash(out / db_folder_name(1)) == good[1]
    assert not list(out.glob(".db_*"))
    assert len((out / JSONL_MANIFEST).read_text().splitlines()) == 4  # compacted: one record per seed


def test_failed_seed_is_recorded(tmp_path):
    r = build_corpus(tmp_path / "c", 3, config=SMALL, progress=False, generator=failing_generator)
    st = {x["seed"]: x["status"] for x in r["records"]}
    assert st == {0: "ok", 1: "ok", 2: "failed"} and r["failed"] == 1
    assert "seed 2 cannot be realised" in r["records"][2]["error"]
    assert not (tmp_path / "c" / db_folder_name(2)).exists()


def test_refusals(tmp_path):
    out = tmp_path / "c"
    build_corpus(out, 1, config=SMALL, progress=False)
    with pytest.raises(RelforgeError, match="was made with config"):
        build_corpus(out, 2, config={**SMALL, "schema": {**SMALL["schema"], "n_tables": (3, 5)}}, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("x")
    with pytest.raises(RelforgeError, match="holds no relforge corpus"):
        build_corpus(other, 1, config=SMALL, progress=False)
    with pytest.raises(RelforgeError, match="backend"):
        build_corpus(tmp_path / "d", 1, backend="spark", progress=False)
    with pytest.raises(RelforgeError, match="number of databases"):
        build_corpus(tmp_path / "d", 0, progress=False)


def _wait_records(out: Path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            return
        f = out / JSONL_MANIFEST
        if f.is_file() and f.read_text().count("\n") >= n:
            return
        time.sleep(0.01)


@pytest.mark.parametrize("workers", [1, 2])
def test_kill9_then_resume(tmp_path, small_toml, workers):
    """A real ``relforge corpus`` process killed with SIGKILL mid-way; the same command completes it."""
    out, k = tmp_path / "corpus", 24
    cmd = [sys.executable, "-m", "relforge", "corpus", "--num-dbs", str(k), "--out", str(out), "--config",
           str(small_toml), "--workers", str(workers), "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _wait_records(out, 3, proc)
    os.kill(proc.pid, signal.SIGKILL)  # only the driver: pool workers are orphaned, as with a real kill -9
    proc.wait(timeout=30)
    time.sleep(0.5)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    before = verify_corpus(out)
    assert 3 <= len(before) < k
    # nothing partial under a final name: every visible database folder is complete and loads
    for d in out.glob("db_*"):
        assert load_database(d).content_hash() == _folder_hash(d)
    stamps = {s: (out / r["path"] / "metadata.json").stat().st_mtime_ns for s, r in before.items()}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    recs = read_jsonl_manifest(out)
    assert [r["seed"] for r in recs] == list(range(k)) and all(r["status"] == "ok" for r in recs)
    assert sorted(p.name for p in out.glob("db_*")) == [db_folder_name(s) for s in range(k)]
    assert not list(out.glob(".db_*"))
    for s, ns in stamps.items():  # finished databases were not generated again
        assert (out / before[s]["path"] / "metadata.json").stat().st_mtime_ns == ns
    cfg = load_config(small_toml)
    for r in recs:  # manifest and folders agree
        assert _folder_hash(out / r["path"]) == r["content_hash"]
    for s in (0, k - 1):  # and equal a fresh in-process generation of the same seed
        assert generate_database(s, cfg).content_hash() == recs[s]["content_hash"]
    assert f"{k} databases" in done.stdout and f"{len(before)} already there" in done.stdout


def test_cli_corpus_error_is_one_line(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("")
    p = subprocess.run([sys.executable, "-m", "relforge", "corpus", "--num-dbs", "2", "--out", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and p.stderr.startswith("error: ")
