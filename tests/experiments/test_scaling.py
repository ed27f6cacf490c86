"""Scaling sweeps: power-law fits, frontiers, the task corpus split, a tiny 2x2 sweep and its resume."""
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relforge.db import Database, Stype, Table
from relforge.errors import RelforgeError
from relforge.experiments.scaling import (SweepConfig, cell_name, fit_power_law, frontier, parse_list,
                                          power_law, run_sweep)
from relforge.experiments.task_corpus import MAX_FKEYS, cap_tasks, load_task_corpus, too_many_fkeys
from relforge.train.schedule import sweep_lr

SMALL = dict(schema=dict(n_tables=(3, 4), entity_rows=(30, 60), activity_rows=(60, 120), n_features=(2, 4)))
TINY = SweepConfig(model="tiny", ctx_len=128, batch_size=4, n_heldout=2, eval_batches=3, eval_batch_size=4)


def test_fit_recovers_paper_law_exactly():
    x = np.array([8, 16, 32, 64, 128, 256, 512, 1024], float)
    f = fit_power_law(x, power_law(x, 0.07, 0.38, 0.36))
    assert f.a == pytest.approx(0.07, rel=1e-3) and f.b == pytest.approx(0.38, rel=1e-3)
    assert f.c == pytest.approx(0.36, abs=1e-4) and f.rmse < 1e-6 and f.method == "covariance"


@settings(max_examples=15, deadline=None)
@given(a=st.floats(0.5, 5.0), b=st.floats(0.2, 1.2), c=st.floats(0.05, 1.0), seed=st.integers(0, 2**31))
def test_fit_interval_covers_b_under_noise(a, b, c, seed):
    x = np.geomspace(2, 2048, 11)
    y0 = power_law(x, a, b, c)
    y = y0 + np.random.default_rng(seed).normal(0, 0.002 * (y0.max() - y0.min()), len(x))
    f = fit_power_law(x, y)
    lo, hi = f.ci["b"]
    assert lo <= f.b <= hi
    assert abs(f.b - b) < 0.1 + 0.5 * (hi - lo)  # close to the truth, relative to its own interval
    assert f.b > 0


def test_fit_refusals_and_bootstrap_fallback():
    with pytest.raises(RelforgeError, match="at least 3 points"):
        fit_power_law([1, 2], [1, 0.5])
    with pytest.raises(RelforgeError, match="positive x"):
        fit_power_law([0, 1, 2], [1, 0.5, 0.3])
    f = fit_power_law([2, 4, 8], [1.0, 0.7, 0.55])  # 0 degrees of freedom: bootstrap interval
    assert f.method == "bootstrap" and f.n_points == 3


def test_frontier_takes_the_best_cell_per_axis():
    cells = [dict(n=8, tokens=1e6, heldout_loss=0.5), dict(n=8, tokens=4e6, heldout_loss=0.45),
             dict(n=16, tokens=1e6, heldout_loss=0.47), dict(n=16, tokens=4e6, heldout_loss=0.49),
             dict(n=32, tokens=1e6, heldout_loss=float("nan"))]
    fr = frontier(cells)
    assert fr["by_n"] == [(8, 4e6, 0.45), (16, 1e6, 0.47)]
    assert fr["by_s"] == [(1e6, 16, 0.47), (4e6, 8, 0.45)]


def test_parse_list_and_schedule():
    assert parse_list("16, 8,8,32", int, "N") == [8, 16, 32]
    assert parse_list("1e6,4e6") == [1e6, 4e6]
    for bad in ("8,x", "0,8", "", "2.5"):
        with pytest.raises(RelforgeError):
            parse_list(bad, int, "N")
    cfg = SweepConfig(lr=1e-3)
    assert SweepConfig(lr=1e-3, peers=0).hash() == cfg.hash() != SweepConfig(lr=1e-3, peers=8).hash()  # old sweeps resume
    with pytest.raises(RelforgeError, match="peers"):
        SweepConfig(peers=-1).validate()
    lrs = [sweep_lr(cfg.lr, 100, cfg.warmup_frac)(s) for s in range(100)]
    assert lrs[0] == pytest.approx(1e-3 / 25) and max(lrs) == pytest.approx(1e-3, rel=0.06)
    assert int(np.argmax(lrs)) == 20 and lrs[-1] < 1e-4


def _fk_db(n_fk: int) -> Database:
    parent = Table(pd.DataFrame({"id": np.arange(3), "x": [1.0, 2.0, 3.0]}), "id", {}, None, {"x": Stype.numerical})
    df = pd.DataFrame({"id": np.arange(4), **{f"p{i}": pd.array([0, 1, 2, 0], dtype="Int64") for i in range(n_fk)}})
    child = Table(df, "id", {f"p{i}": "parent" for i in range(n_fk)}, None, {})
    return Database({"parent": parent, "child": child})


def test_too_many_foreign_keys():
    assert too_many_fkeys(_fk_db(MAX_FKEYS)) is None
    assert "6 foreign keys" in too_many_fkeys(_fk_db(MAX_FKEYS + 1))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from relforge.corpus import build_corpus

    out = tmp_path_factory.mktemp("scaling") / "corpus"
    build_corpus(out, 7, config=SMALL, progress=False)
    return out


def test_task_corpus_split_by_database(corpus):
    tc = load_task_corpus(corpus, 2)
    held, train = [d.seed for d in tc.heldout], [d.seed for d in tc.train]
    assert len(held) == 2 and not set(held) & set(train)
    assert max(held) < min(train)  # held-out pool = first usable seeds, as in PluRel
    assert sorted(held + train + list(tc.skipped)) == list(range(7))
    for d in tc.heldout:
        clf = sum(t.task_type == "binary_classification" for t in d.tasks)
        assert clf <= 5 and len(d.tasks) - clf <= 5 and d.tasks
    with pytest.raises(RelforgeError, match="usable training databases"):
        tc.train_dbs(len(train) + 1)


def test_cap_tasks_is_seeded_and_capped(corpus):
    tc = load_task_corpus(corpus, 1)
    tasks = [t for d in tc.train for t in d.tasks]
    a = cap_tasks(tasks, 1, 2, seed=3)
    assert [t.name for t in a] == [t.name for t in cap_tasks(tasks, 1, 2, seed=3)]
    assert sum(t.task_type == "binary_classification" for t in a) <= 1 and len(a) <= 3


def test_tiny_sweep_end_to_end_and_resume(corpus, tmp_path):
    out = tmp_path / "sweep"
    logs = []
    r = run_sweep(out, [1, 2], [1024, 2048], TINY, corpus_dir=corpus, progress=False, log=logs.append)
    assert len(r["cells"]) == 4 and all(np.isfinite(c["heldout_loss"]) for c in r["cells"])
    assert {(c["n"], c["steps"]) for c in r["cells"]} == {(1, 2), (1, 4), (2, 2), (2, 4)}
    for name in ("results.json", "table.md", "loss_vs_n.png", "loss_vs_s.png", "frontier.png", "loglog.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "loss_vs_n.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| 2 |" in (out / "table.md").read_text()
    # resume: finished cells are not trained again; a lost cell is retrained to the same result
    f = out / "cells" / f"{cell_name(2, 2048)}.json"
    lost = json.loads(f.read_text())
    f.unlink()
    logs.clear()
    r2 = run_sweep(out, [1, 2], [1024, 2048], TINY, corpus_dir=corpus, progress=False, log=logs.append)
    assert "3 cells done, 1 to train" in logs[0] and len(logs) == 2
    again = json.loads(f.read_text())
    assert again["heldout_loss"] == pytest.approx(lost["heldout_loss"], abs=1e-6)
    assert again["train_dbs"] == lost["train_dbs"]
    assert len(r2["cells"]) == 4
    with pytest.raises(RelforgeError, match="other settings"):
        run_sweep(out, [1], [1024], SweepConfig(model="tiny", ctx_len=64), corpus_dir=corpus, progress=False)


def test_real_task_loss_is_recorded(corpus, tmp_path, real_data_dir, monkeypatch):
    monkeypatch.setenv("RELFORGE_DATA", str(real_data_dir))
    cfg = dataclasses.replace(TINY, real=("chinook",))
    r = run_sweep(tmp_path / "sw", [1], [512], cfg, corpus_dir=corpus, progress=False)
    (cell,) = r["cells"]
    assert set(cell["real_loss"]) == {"chinook"} and np.isfinite(cell["real_loss"]["chinook"])
    assert np.isfinite(cell["real_loss_init"]["chinook"])
    assert "Real database `chinook`" in (tmp_path / "sw" / "table.md").read_text()
    with pytest.raises(RelforgeError, match="unknown real database"):
        dataclasses.replace(TINY, real=("nope",)).validate()


def test_cli_scaling_bad_input_is_one_line(tmp_path):
    import subprocess
    import sys

    for args, msg in ((["--n", "0,8"], "must be positive"), (["--n", "8", "--config", "huge"], "unknown model preset")):
        p = subprocess.run([sys.executable, "-m", "relforge", "scaling", *args, "--tokens", "1e6", "--out",
                            str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
        assert p.returncode == 2 and p.stderr.startswith("error: ") and msg in p.stderr
        assert p.stderr.strip().count("\n") == 0
    assert not (tmp_path / "o").exists()
