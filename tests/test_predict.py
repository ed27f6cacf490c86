"""relforge predict: autocomplete and forecast on a user's SQLite database, checkpoints, bad input."""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from relforge.cli import app
from relforge.experiments.transfer import TransferConfig, new_model
from relforge.model.checkpoint import ContextSettings, default_path, save
from relforge.model.checkpoint import load as load_checkpoint
from relforge.predict import autocomplete, forecast, load_taskfile, load_user_db

runner = CliRunner()
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "chinook_task.toml"
CTX = 64


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from relforge.inference import torch_threads

    with torch_threads(1):
        yield


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(r, *needles):
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """An untrained tiny RT checkpoint (hash embedder, dense attention): predictions are weak but real."""
    cfg = TransferConfig(embedder="hash", ctx_len=CTX)
    m = new_model(cfg, 384, seed=0)
    p = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save(p, m, embedder={"name": "hash:384", "dim": 384}, context=ContextSettings(ctx_len=CTX))
    return p


def test_checkpoint_roundtrip_records_embedder(ckpt):
    ck = load_checkpoint(ckpt)
    assert ck.embedder["name"] == "hash:384" and ck.context.ctx_len == CTX
    assert ck.model.get_num_params() > 0


def test_autocomplete_holdout_scores_and_hides_truth(chinook, ckpt, tmp_path):
    db = load_user_db(chinook)
    assert db["Invoice"].time_col == "InvoiceDate"  # inferred: the one datetime column
    ck = load_checkpoint(ckpt)
    r = autocomplete(db, "Invoice", "Total", holdout_after="2025-06-01", ckpt=ck)
    after = (db["Invoice"].df["InvoiceDate"] > "2025-06-01").sum()
    assert r.n_rows == after and set(r.frame.columns) == {"InvoiceId", "InvoiceDate", "Total_pred", "Total"}
    assert np.isfinite(r.frame["Total_pred"]).all() and "r2" in r.metrics
    # no leakage: changing the hidden true values changes no prediction
    df = db["Invoice"].df.copy()
    df.loc[df["InvoiceDate"] > "2025-06-01", "Total"] *= 100.0
    from dataclasses import replace

    from relforge.db.database import Database
    db2 = Database({**db.tables, "Invoice": replace(db["Invoice"], df=df)}, None, None, db.name, {})
    r2 = autocomplete(db2, "Invoice", "Total", holdout_after="2025-06-01", ckpt=ck)
    np.testing.assert_allclose(r2.frame["Total_pred"], r.frame["Total_pred"], rtol=1e-5)
    assert not np.allclose(r2.frame["Total"], r.frame["Total"])


def test_cli_autocomplete_fills_missing_rows(chinook, ckpt, tmp_path):
    from dataclasses import replace

    src = load_user_db(chinook)
    df = src["Track"].df.copy()
    df["Milliseconds"] = df["Milliseconds"].astype("float64").where(df["TrackId"] % 50 != 0)
    src.tables["Track"] = replace(src["Track"], df=df)
    db = tmp_path / "chinook_parquet"  # a Parquet folder this time
    src.save(db)
    out = tmp_path / "pred.csv"
    r = run("predict", "--db", db, "--table", "Track", "--target", "Milliseconds", "--checkpoint", ckpt, "--out", out)
    assert r.exit_code == 0, r.stderr
    df = pd.read_csv(out)
    assert sorted(df["TrackId"]) == [i for i in range(1, 3504) if i % 50 == 0]
    assert list(df.columns) == ["TrackId", "Milliseconds_pred"] and df["Milliseconds_pred"].notna().all()
    assert not list(tmp_path.glob(".pred.csv.tmp-*"))


def test_cli_forecast_example_taskfile(chinook, ckpt, tmp_path):
    out = tmp_path / "churn.parquet"
    r = run("predict", "--db", chinook, "--task", EXAMPLE, "--checkpoint", ckpt, "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "roc_auc" in r.stdout
    df = pd.read_parquet(out)
    assert list(df.columns) == ["CustomerId", "timestamp", "churn_pred", "churn"]
    assert set(df["timestamp"].astype(str).str[:10]) == {"2025-01-01", "2025-04-01", "2025-07-01"}
    assert df["churn_pred"].between(0, 1).all() and not df.duplicated(["CustomerId", "timestamp"]).any()


def test_forecast_history_option(chinook, ckpt, tmp_path):
    """``--history N``: each forecast context shows the entity's N most recent closed labels (the
    default 3, recorded in the checkpoint's context settings; 0: all of them). Other values change
    the contexts and so the predictions; bad values and autocomplete runs get one error line."""
    tf, db, ck = load_taskfile(EXAMPLE), load_user_db(chinook), load_checkpoint(ckpt)
    assert ck.context.history == 3
    got = {h: forecast(db, tf, ckpt=ck, history=h).frame["churn_pred"].to_numpy() for h in (None, 3, 0, 1)}
    assert np.array_equal(got[None], got[3])
    assert not np.allclose(got[3], got[0]) and not np.allclose(got[3], got[1])
    r = run("predict", "--db", chinook, "--task", EXAMPLE, "--checkpoint", ckpt, "--out", tmp_path / "o.csv",
            "--history", "-1")
    one_line_error(r, "--history")
    r = run("predict", "--db", chinook, "--table", "Invoice", "--target", "Total", "--checkpoint", ckpt,
            "--out", tmp_path / "o.csv", "--history", "2")
    one_line_error(r, "--history", "forecast")
    assert not (tmp_path / "o.csv").exists()


def test_forecast_future_rows_without_truth(chinook, ckpt, tmp_path):
    tf = load_taskfile(EXAMPLE)
    from dataclasses import replace
    tf = replace(tf, predict_at=(pd.Timestamp("2026-01-01"),))
    r = forecast(load_user_db(chinook), tf, ckpt=load_checkpoint(ckpt))
    assert r.metrics == {} and len(r.frame) == 59 and "churn" not in r.frame.columns


@pytest.mark.parametrize("case", ["missing_table", "missing_column", "text_column", "untimed_holdout",
                                  "other_size", "corrupt_ckpt", "corrupt_db", "embedder", "bad_ext"])
def test_cli_bad_input_one_line(case, chinook, ckpt, tmp_path):
    base = ["predict", "--db", chinook, "--checkpoint", ckpt, "--out", tmp_path / "o.csv"]
    if case == "missing_table":
        r = run(*base, "--table", "Nope", "--target", "x")
        one_line_error(r, "Nope")
    elif case == "missing_column":
        r = run(*base, "--table", "Invoice", "--target", "Nope")
        one_line_error(r, "Nope", "Invoice")
    elif case == "text_column":
        r = run(*base, "--table", "Genre", "--target", "Name")
        one_line_error(r, "Name", "Genre")
    elif case == "untimed_holdout":
        tf = tmp_path / "t.toml"
        tf.write_text('entity_table = "Track"\n[target]\ncolumn = "Milliseconds"\n[timestamps]\nholdout_after = "2024-01-01"\n')
        r = run("predict", "--db", chinook, "--task", tf, "--checkpoint", ckpt, "--out", tmp_path / "o.csv")
        one_line_error(r, "Track", "time column")
    elif case == "other_size":
        from safetensors import safe_open
        from safetensors.torch import save_file
        with safe_open(str(ckpt), framework="pt") as f:
            meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
        cfg = json.loads(meta["rt_config"])
        cfg.update(d_model=128, n_heads=4, d_ff=512, n_blocks=4)
        bad = tmp_path / "small.safetensors"
        save_file(tensors, str(bad), metadata={**meta, "rt_config": json.dumps(cfg)})
        r = run("predict", "--db", chinook, "--table", "Invoice", "--target", "Total", "--checkpoint", bad,
                "--out", tmp_path / "o.csv")
        one_line_error(r, "another size")
    elif case == "corrupt_ckpt":
        bad = tmp_path / "bad.safetensors"
        bad.write_bytes(b"\x00garbage" * 10)
        r = run("predict", "--db", chinook, "--table", "Invoice", "--target", "Total", "--checkpoint", bad,
                "--out", tmp_path / "o.csv")
        one_line_error(r, "corrupt")
    elif case == "corrupt_db":
        bad = tmp_path / "bad.sqlite"
        bad.write_bytes(b"not a database at all" * 50)
        r = run("predict", "--db", bad, "--table", "Invoice", "--target", "Total", "--checkpoint", ckpt,
                "--out", tmp_path / "o.csv")
        one_line_error(r, "bad.sqlite")
    elif case == "embedder":
        r = run(*base, "--table", "Invoice", "--target", "Total", "--embedder", "minilm")
        one_line_error(r, "embedder")
    elif case == "bad_ext":
        r = run("predict", "--db", chinook, "--table", "Invoice", "--target", "Total", "--checkpoint", ckpt,
                "--out", tmp_path / "o.txt")
        one_line_error(r, ".csv")
    assert not (tmp_path / "o.csv").exists()


def test_taskfile_errors(tmp_path):
    from relforge.errors import RelforgeError
    p = tmp_path / "t.toml"
    for text, needle in (("entity_table = 'A'\n[target]\nsql='x'\n", "missing"),
                         ("entity_table = 'A'\n[target]\nsql='x'\nlabel='y'\ntype='ranking'\nhorizon_days=3\n", "type"),
                         ("[target]\ncolumn='x'\n", "entity_table"), ("not toml [", "TOML"),
                         ("entity_table='A'\nbogus=1\n[target]\ncolumn='x'\n", "bogus")):
        p.write_text(text)
        with pytest.raises(RelforgeError, match=needle):
            load_taskfile(p)


def test_default_model_is_packaged_and_trained():
    p = default_path()
    if not p.is_file():
        pytest.skip("default model not built yet (make default-model)")
    assert p.stat().st_size <= 20 * 2**20
    ck = load_checkpoint(None)
    assert ck.embedder["name"] in ("minilm", "hash:384")
    assert ck.info["data"] == "synthetic only" and ck.info["steps"] > 0
    assert ck.info["loss_last"] < ck.info["loss_first"]  # it was trained: the loss went down
