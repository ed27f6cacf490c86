"""predict adapts and tells the truth (#17): baselines beside the model's score, --finetune-steps,
the scores JSON, stage lines, the lazy text embeddings."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from relforge.cli import app
from relforge.db.database import Database
from relforge.db.table import Stype, Table
from relforge.experiments.transfer import TransferConfig, new_model
from relforge.model.checkpoint import ContextSettings, save
from relforge.model.checkpoint import load as load_checkpoint
from relforge.inference import torch_threads
from relforge.predict import autocomplete, load_user_db
from relforge.predict_baselines import autocomplete_baselines, format_line, scores_path, write_scores

runner = CliRunner()
CTX = 64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RELFORGE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """An untrained tiny RT checkpoint (hash embedder)."""
    m = new_model(TransferConfig(embedder="hash", ctx_len=CTX), 384, seed=0)
    p = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save(p, m, embedder={"name": "hash:384", "dim": 384}, context=ContextSettings(ctx_len=CTX))
    return p


def planted_db(n_groups=40, n_items=1200, flip_after=None, seed=0) -> Database:
    """groups(x) <- items(group, noise, amount, created): amount = 3 * group.x + noise-free jitter.

    With ``flip_after`` the sign of the relation flips for items created after that day index (a
    baseline that saw those rows would learn the flipped relation)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, n_groups)
    groups = pd.DataFrame({"gid": np.arange(n_groups), "x": x})
    g = rng.integers(0, n_groups, n_items)
    day = np.sort(rng.integers(0, 1000, n_items))
    sign = np.where(day > flip_after, -1.0, 1.0) if flip_after is not None else 1.0
    amount = sign * 3.0 * x[g] + rng.normal(0, 0.3, n_items)
    items = pd.DataFrame({"iid": np.arange(n_items), "gid": g, "noise": rng.normal(0, 1, n_items), "amount": amount,
                          "created": pd.Timestamp("2020-01-01") + pd.to_timedelta(day, unit="D")})
    return Database({
        "groups": Table(groups, "gid", {}, None, {"x": Stype.numerical}),
        "items": Table(items, "iid", {"gid": "groups"}, "created",
                       {"noise": Stype.numerical, "amount": Stype.numerical, "created": Stype.datetime}),
    }, None, None, "planted", {})


def _masks(db, cut_day):
    t = db["items"].df
    test = (t["created"] > pd.Timestamp("2020-01-01") + pd.Timedelta(days=cut_day)).to_numpy()
    return t["amount"].to_numpy(np.float64), ~test, test


def test_baselines_find_a_planted_parent_signal():
    pytest.importorskip("lightgbm")
    db = planted_db()
    y, train, test = _masks(db, 800)
    b = autocomplete_baselines(db, "items", "amount", "regression", y, train, test)
    assert b["n_train"] == train.sum() and b["n_test"] == test.sum()
    assert b["lightgbm"]["r2"] > 0.9  # the parent's x explains amount
    assert b["constant"]["r2"] < 0.05 and abs(b["constant"]["value"] - y[train].mean()) < 1e-12
    line = format_line({"r2": 0.1}, b, "regression")
    assert line.startswith("model R2 0.100 | constant ") and "LightGBM (row+parents) 0.9" in line


def test_baselines_train_only_before_the_cutoff():
    """After day 800 the relation flips. Trained on the earlier rows only, LightGBM must be badly
    wrong on the later ones (a baseline that saw them would score well)."""
    pytest.importorskip("lightgbm")
    db = planted_db(flip_after=800)
    y, train, test = _masks(db, 800)
    b = autocomplete_baselines(db, "items", "amount", "regression", y, train, test)
    assert b["lightgbm"]["r2"] < -1.0
    # the same call with the test rows among the training rows is refused
    with pytest.raises(Exception, match="both a training and a test row"):
        autocomplete_baselines(db, "items", "amount", "regression", y, np.ones_like(train), test)


def test_predict_reports_baselines_on_the_same_rows(ckpt, tmp_path):
    pytest.importorskip("lightgbm")
    db = planted_db(flip_after=800)
    r = autocomplete(db, "items", "amount", holdout_after="2022-03-11", ckpt=load_checkpoint(ckpt), baselines=True)
    cut = pd.Timestamp("2022-03-11")
    before = int((db["items"].df["created"] <= cut).sum())
    assert r.baselines["n_train"] == before and r.baselines["n_test"] == r.n_rows == len(db["items"]) - before
    assert r.baselines["lightgbm"]["r2"] < -1.0  # trained before the cut-off only (the relation flips after it)


def test_holdout_frac_on_an_untimed_table(ckpt):
    db = planted_db()
    t = db["items"]
    db = Database({**db.tables, "items": replace(t, time_col=None)}, None, None, "planted", {})
    r = autocomplete(db, "items", "amount", holdout_frac=0.1, ckpt=load_checkpoint(ckpt), baselines=False)
    assert r.n_rows == 120 and "r2" in r.metrics
    r2 = autocomplete(db, "items", "amount", holdout_frac=0.1, ckpt=load_checkpoint(ckpt), baselines=False)
    assert r2.frame["iid"].tolist() == r.frame["iid"].tolist()  # seeded


def _train_loss(model, task, ctx_len):
    """Mean squared error (normalised units) at the masked target of every training seed."""
    from relforge.inference import predict_task

    o = predict_task(model, task, ContextSettings(ctx_len=ctx_len), batch_size=32, seed=0)
    assert len(o.pred) == len(task.seeds)
    return float(np.mean((o.target - o.pred) ** 2))


def test_finetune_changes_weights_and_lowers_training_loss(ckpt):
    import torch

    from relforge.finetune import finetune
    from relforge.inference import embedder_for
    from relforge.tokenize.cells import tokenize_database
    from relforge.tokenize.tasks import SamplerTask, by_time

    db = planted_db(n_items=600)
    store = tokenize_database(db, [], embedder=embedder_for("hash:384"))
    ti, tc = store.table_id("items"), store.col_id("items", "amount")
    a, b = store.node_range(ti)
    seeds = np.arange(a, b, dtype=np.int64)
    task = SamplerTask(store, "items.amount", "autocomplete", "regression", "train", ti, tc, seeds,
                       np.zeros(len(store.columns), dtype=np.uint8), peers=by_time(store, seeds))
    ck = load_checkpoint(ckpt)
    before = {k: v.clone() for k, v in ck.model.state_dict().items()}
    loss0 = _train_loss(ck.model, task, CTX)
    res = finetune(ck.model, task, steps=60, ctx_len=CTX, seed=0, lr=3e-3, quiet=True)
    assert all(torch.equal(before[k], v) for k, v in ck.model.state_dict().items())  # the input model is untouched
    changed = [k for k, v in res.model.state_dict().items() if not torch.equal(before[k], v)]
    assert len(changed) > len(before) // 2
    loss1 = _train_loss(res.model, task, CTX)
    assert loss1 < 0.8 * loss0, (loss0, loss1)
    assert res.steps == 60 and res.n_seeds == len(seeds) and np.isfinite(res.loss_last)


def test_write_scores_is_atomic(tmp_path, monkeypatch):
    out = tmp_path / "pred.csv"
    p = scores_path(out)
    assert p.name == "pred.csv.scores.json"
    write_scores(p, {"model": {"r2": 0.5, "n": np.int64(3)}, "constant": {"r2": float("nan")}})
    assert json.loads(p.read_text()) == {"model": {"r2": 0.5, "n": 3}, "constant": {"r2": None}}
    old = p.read_text()

    def boom(*a, **k):
        raise RuntimeError("disk full")

    import relforge.predict_baselines as pb

    monkeypatch.setattr(pb.json, "dumps", boom)
    with pytest.raises(RuntimeError):
        write_scores(p, {"model": {"r2": 0.9}})
    assert p.read_text() == old and not list(tmp_path.glob(".pred.csv.scores.json.tmp-*"))


def test_cli_finetune_prints_baselines_and_writes_scores(chinook, ckpt, tmp_path):
    pytest.importorskip("lightgbm")
    out = tmp_path / "totals.csv"
    r = runner.invoke(app, ["predict", "--db", str(chinook), "--table", "Invoice", "--target", "Total",
                            "--holdout-after", "2025-01-01", "--checkpoint", str(ckpt), "--finetune-steps", "5",
                            "--out", str(out)])
    assert r.exit_code == 0, r.stderr
    for part in ("model (fine-tuned 5 steps) R2 ", "| constant ", "| LightGBM (row+parents) "):
        assert part in r.stdout, (part, r.stdout)
    for stage in ("load:", "tokenize:", "fine-tune: 5 steps", "predict:", "embed:", "baselines:"):
        assert stage in r.stderr, (stage, r.stderr)
    rec = json.loads(scores_path(out).read_text())
    n_before = int((load_user_db(chinook)["Invoice"].df["InvoiceDate"] <= "2025-01-01").sum())
    assert rec["n_train"] == n_before and rec["model"]["finetune"]["steps"] == 5
    assert rec["rows"] == rec["model"]["n"] == rec["constant"]["n"] == rec["lightgbm"]["n"] == len(pd.read_csv(out))


@pytest.mark.parametrize("args,needle", [(["--finetune-steps", "-3"], "--finetune-steps"),
                                         (["--holdout-frac", "1.5"], "--holdout-frac"),
                                         (["--holdout-frac", "0.1", "--holdout-after", "2025-01-01"], "not both")])
def test_cli_adapt_options_one_line_errors(chinook, ckpt, tmp_path, args, needle):
    r = runner.invoke(app, ["predict", "--db", str(chinook), "--table", "Invoice", "--target", "Total",
                            "--checkpoint", str(ckpt), "--out", str(tmp_path / "o.csv"), *args])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
    assert not (tmp_path / "o.csv").exists()


def test_lazy_embeddings_match_eager_and_use_the_cache(tmp_path):
    from relforge.tokenize.embed import DiskCache, HashingEmbedder, LazyEmbeddings

    texts = [f"text number {i} " + "word " * (i % 7) for i in range(300)]
    emb = HashingEmbedder(64)
    eager = emb.encode(texts)
    lazy = LazyEmbeddings(texts, HashingEmbedder(64))
    ids = np.array([5, 7, 5, 299])
    np.testing.assert_array_equal(lazy[ids], eager[ids])
    assert lazy._done.sum() == 3  # only what was read
    np.testing.assert_array_equal(np.asarray(lazy), eager)
    cache = DiskCache(HashingEmbedder(64))
    cache.put(texts[:10], eager[:10])
    got = DiskCache(HashingEmbedder(64)).get(texts[:20])
    assert sorted(got) == list(range(10)) and np.array_equal(got[3], eager[3])


def test_forecast_taskfile_baselines_use_history_rows(chinook, ckpt):
    """A task file whose windows lie in the data: baselines learn from the history cut-offs only."""
    pytest.importorskip("lightgbm")
    from relforge.predict import forecast, load_taskfile

    example = Path(__file__).resolve().parents[1] / "examples" / "chinook_task.toml"
    r = forecast(load_user_db(chinook), load_taskfile(example), ckpt=load_checkpoint(ckpt), baselines=True)
    b = r.baselines
    assert "roc_auc" in r.metrics and b["n_test"] == r.n_rows == b["lightgbm"]["n"]
    assert b["lightgbm"]["features"] == "history aggregates" and 0 <= b["lightgbm"]["roc_auc"] <= 1
    assert b["constant"]["roc_auc"] == 0.5
    # history rows end one horizon before the first prediction time
    assert 0 < b["n_train"] and "error" not in b["lightgbm"]
