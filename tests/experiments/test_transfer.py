"""relforge transfer: the three regimes, baselines, table, and same seed => same table."""
import json

import pytest
from typer.testing import CliRunner

from relforge.cli import app
from relforge.experiments.transfer import REGIMES, TransferConfig, markdown, run_transfer

TINY = TransferConfig(dbs=("f1", "chinook"), ctx_len=64, batch_size=2, synth_dbs=1, synth_steps=3, real_steps=2,
                      eval_rows=12, embedder="hash", lightgbm=False)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from relforge.inference import torch_threads

    with torch_threads(1):
        yield


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [_strip(v) for v in x]
    return x


@pytest.fixture(scope="module")
def runs(real_data_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("stores")
    out1, out2 = tmp_path_factory.mktemp("t1"), tmp_path_factory.mktemp("t2")
    r1 = run_transfer(TINY, out1, cache_dir=cache, log=lambda *a: None)
    r2 = run_transfer(TINY, out2, cache_dir=cache, log=lambda *a: None)
    return r1, r2, out1, out2


def test_same_seed_same_table(runs):
    r1, r2, out1, out2 = runs
    j1 = _strip(json.loads((out1 / "results.json").read_text()))
    j2 = _strip(json.loads((out2 / "results.json").read_text()))
    assert j1 == j2
    assert (out1 / "table.md").read_text() == (out2 / "table.md").read_text()


def test_table_has_every_forecast_task_and_regime(runs):
    r1 = runs[0]
    got = {(r["db"], r["task"]) for r in r1["rows"]}
    assert got == {("f1", "driver-dnf"), ("f1", "driver-top3"), ("f1", "driver-position"),
                   ("chinook", "customer-spend"), ("chinook", "customer-churn")}
    for r in r1["rows"]:
        for k in (*REGIMES, "constant"):
            assert isinstance(r[k], float)
        assert r["n"] == 12
        if r["metric"] == "roc_auc":
            assert r["constant"] == 0.5 or r["constant"] != r["constant"]  # nan: one class in the subset
            assert r["synth_only"] != r["synth_only"] or 0.0 <= r["synth_only"] <= 1.0
    tr = r1["training"]
    assert tr["synthetic"]["steps"] == 3 and tr["real_only/f1"]["steps"] == 2 and "synth_real/chinook" in tr
    md = markdown(r1)
    assert "| Real only | Synth + Real | Gain | Synth only | Majority / mean |" in md and md.count("**mean**") == 2


def test_other_seed_other_table(runs, tmp_path):
    r3 = run_transfer(TINY.replace(seed=1, dbs=("chinook", "f1")), None, cache_dir=tmp_path, log=lambda *a: None)
    assert _strip(r3)["rows"] != _strip(runs[0])["rows"]


def test_cli_bad_config_one_line(tmp_path):
    r = CliRunner().invoke(app, ["transfer", "--out", str(tmp_path / "o"), "--quick", "--model", "huge"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "huge" in r.stderr


def test_seeds_join_runs_reuse_finished_ones_and_read_full_test_sets(runs, tmp_path):
    """--seeds: one run per seed (a finished seed folder with the same config is reused, not
    rerun), then mean ± sd per figure; eval_rows 0 scores every test row."""
    import shutil

    import numpy as np

    from relforge import realdata
    from relforge.experiments.transfer import run_transfer_seeds

    logs = []
    shutil.copytree(runs[2], tmp_path / "o" / "seed-0")  # TINY's seed-0 run, made by the fixture
    r = run_transfer_seeds(TINY, [0, 1], tmp_path / "o", log=logs.append)
    assert any("seed 0: reused" in m for m in logs) and any("seed 1: running" in m for m in logs)
    one = {(x["db"], x["task"]): x for x in runs[0]["rows"]}
    for row in r["rows"]:
        for k in REGIMES:
            v = row[k]["values"]
            assert len(v) == 2 and v[0] == pytest.approx(one[(row["db"], row["task"])][k], nan_ok=True)
            assert row[k]["mean"] == pytest.approx(np.mean(v), abs=1e-4, nan_ok=True)  # nan: one class in a subset
            assert row[k]["sd"] == pytest.approx(np.std(v, ddof=1), abs=1e-4, nan_ok=True)
    md = (tmp_path / "o" / "table.md").read_text()
    assert "seeds 0, 1" in md and md.count("±") >= 3 * len(r["rows"]) and md.count("**mean**") == 2
    again = run_transfer_seeds(TINY, [0, 1], tmp_path / "o", log=logs.append)
    assert json.dumps(_strip(again), sort_keys=True) == json.dumps(_strip(r), sort_keys=True) and sum("reused" in m for m in logs) == 3  # nan-safe

    full = run_transfer(TINY.replace(dbs=("chinook", "f1"), eval_rows=0, real_steps=0), None,
                        cache_dir=tmp_path / "c", log=lambda *a: None)
    for row in full["rows"]:
        assert row["n"] == len(realdata.get_task(row["db"], row["task"]).splits["test"])


def test_cli_bad_seeds_one_line(tmp_path):
    r = CliRunner().invoke(app, ["transfer", "--out", str(tmp_path / "o"), "--quick", "--seeds", "0,x"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "--seeds" in r.stderr
    r = CliRunner().invoke(app, ["transfer", "--out", str(tmp_path / "o"), "--quick", "--seeds", "1,1"])
    assert r.exit_code == 2 and r.stderr.count("\n") == 1 and "distinct" in r.stderr


def test_real_store_cache_key_follows_data_and_embedder(real_data_dir, tmp_path, monkeypatch):
    """The tokenized-real-store cache is keyed by content, not by name: the same data give the same
    folder, one changed byte of one data file or another embedder give another (a stale cache was
    once reused after the embedder's precision changed under the same name)."""
    import shutil

    from relforge.experiments.transfer import real_store_path

    data = tmp_path / "data"
    shutil.copytree(real_data_dir / "chinook", data / "chinook")
    monkeypatch.setenv("RELFORGE_DATA", str(data))
    a = real_store_path(tmp_path / "cache", "chinook", "hash")
    assert a == real_store_path(tmp_path / "cache", "chinook", "hash")
    assert a.name.startswith("chinook-hash384-")
    assert real_store_path(tmp_path / "cache", "chinook", "hash:64") != a
    f = data / "chinook" / "Invoice.csv"
    f.write_bytes(f.read_bytes() + b"\n")
    assert real_store_path(tmp_path / "cache", "chinook", "hash") != a


def test_copy_skip_reaches_the_models_built_here_and_keys_only_when_on():
    """``copy_skip``: the Real-only (and synthetic) models the study builds predict with the skip,
    and results of runs without it keep their config record."""
    from relforge.experiments.transfer import new_model

    assert new_model(TransferConfig(copy_skip=True), 16, 0).config.copy_skip
    assert not new_model(TransferConfig(), 16, 0).config.copy_skip
    assert "copy_skip" not in TransferConfig().to_dict() and TransferConfig(copy_skip=True).to_dict()["copy_skip"]
