"""The Ray corpus backend on a real local Ray instance: same databases as the local backend."""
import pytest

from relforge.corpus import build_corpus, read_jsonl_manifest
from relforge.db.io import load_database

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'relforge[ray]')")

SMALL = dict(schema=dict(n_tables=(3, 4), entity_rows=(30, 60), activity_rows=(60, 120), n_features=(2, 4)))


def test_ray_backend_matches_local(tmp_path):
    seeds = dict(num_dbs=4, offset=11)
    local = build_corpus(tmp_path / "local", config=SMALL, workers=1, progress=False, **seeds)
    assert not ray.is_initialized()
    r = build_corpus(tmp_path / "ray", config=SMALL, backend="ray", workers=2, progress=False, **seeds)
    assert not ray.is_initialized()  # the local instance it started is shut down again
    assert r["generated"] == 4 and r["failed"] == 0
    h_local = {x["seed"]: x["content_hash"] for x in local["records"]}
    h_ray = {x["seed"]: x["content_hash"] for x in read_jsonl_manifest(tmp_path / "ray")}
    assert h_ray == h_local and sorted(h_ray) == [11, 12, 13, 14]
    for x in r["records"]:
        assert load_database(tmp_path / "ray" / x["path"]).content_hash() == x["content_hash"]
