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
