"""CLI: generate / inspect / export, and bad input as one line `error: ...` with exit code 2."""
import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import relforge
from relforge.cli import app
from relforge.db import folder as dbfolder

runner = CliRunner()

SMALL_TOML = """
[schema]
n_tables = [2, 4]
entity_rows = [20, 50]
activity_rows = [50, 120]
n_features = [1, 4]
"""


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(r, *needles):
    assert r.exit_code == 2, (r.exit_code, r.stdout, r.stderr)
    lines = r.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture
def small_toml(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text(SMALL_TOML)
    return p


@pytest.fixture
def db_dir(tmp_path, small_toml):
    out = tmp_path / "db0"
    r = run("generate", "--seed", 4, "--out", out, "--config", small_toml, "--no-progress")
    assert r.exit_code == 0, r.stderr
    return out


def snapshot(folder):
    return sorted((str(p.relative_to(folder)), p.stat().st_size) for p in folder.rglob("*")) if folder.exists() else None


def test_generate_one_database(db_dir, small_toml):
    db = relforge.load(db_dir)
    assert db.content_hash() == relforge.synthesize(4, relforge.generate.config.load_config(small_toml)).content_hash()
    assert db.meta["seed"] == 4


def test_generate_many_into_subfolders(tmp_path, small_toml):
    out = tmp_path / "corpus"
    r = run("generate", "--seed", 10, "--num-dbs", 3, "--out", out, "--config", small_toml, "--no-progress")
    assert r.exit_code == 0, r.stderr
    assert "3 databases" in r.stdout and str(out) in r.stdout
    assert sorted(p.name for p in out.iterdir()) == ["corpus.json", "db_000010", "db_000011", "db_000012"]
    r = run("inspect", out)
    assert r.exit_code == 0 and "3 databases" in r.stdout and "db_000012" in r.stdout


def test_inspect_prints_tables_and_plots(db_dir, tmp_path):
    db = relforge.load(db_dir)
    png = tmp_path / "schema.png"
    r = run("inspect", db_dir, "--plot", png)
    assert r.exit_code == 0, r.stderr
    for name, t in db.tables.items():
        assert f"{name} ({t.kind}): {len(t):,} rows" in r.stdout
        for c in t.df.columns:
            assert f"  {c} " in r.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_and_inspect_sql_files(db_dir, tmp_path):
    dk, sq = tmp_path / "x.duckdb", tmp_path / "x.sqlite"
    r = run("export", db_dir, "--duckdb", dk, "--sqlite", sq)
    assert r.exit_code == 0, r.stderr
    h = relforge.load(db_dir).content_hash()
    assert relforge.load(dk).content_hash() == h and relforge.load(sq).content_hash() == h
    assert run("inspect", sq).exit_code == 0
    before = dk.stat().st_mtime_ns
    assert_one_line_error(run("export", db_dir, "--duckdb", dk), "exists", "--overwrite")
    assert dk.stat().st_mtime_ns == before
    assert run("export", db_dir, "--duckdb", dk, "--overwrite").exit_code == 0
    assert_one_line_error(run("export", db_dir), "nothing to export")


@pytest.mark.parametrize("toml,needle", [
    ('[schema]\nlayouts = ["spiral"]', "schema.layouts"),
    ("[schema]\nn_tables = [9, 3]", "greater than"),
    ("[schema]\nentity_rows = [-5, 10]", "below the minimum"),
    ('[schema]\nmax_fkeys = "three"', "expected an integer"),
    ("[links]\nbogus = 1", "unknown setting"),
    ("this is = = not toml", "not valid TOML"),
])
def test_invalid_config_is_one_line_and_writes_nothing(tmp_path, toml, needle):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml)
    for extra in ([], ["--num-dbs", "2"]):
        out = tmp_path / "out"
        r = run("generate", "--seed", 0, "--out", out, "--config", cfg, *extra)
        assert_one_line_error(r, needle)
        assert not out.exists()


def test_existing_output_folder_is_left_unchanged(db_dir, small_toml):
    before = snapshot(db_dir)
    for extra in ([], ["--num-dbs", "2"]):
        r = run("generate", "--seed", 1, "--out", db_dir, "--config", small_toml, *extra)
        assert_one_line_error(r, "not empty", "--overwrite")
        assert snapshot(db_dir) == before
    r = run("generate", "--seed", 1, "--out", db_dir, "--config", small_toml, "--overwrite", "--no-progress")
    assert r.exit_code == 0 and relforge.load(db_dir).meta["seed"] == 1


def test_missing_paths_and_bad_values(tmp_path, small_toml):
    out = tmp_path / "out"
    assert_one_line_error(run("generate", "--seed", 0, "--out", out, "--config", tmp_path / "nope.toml"), "config file not found")
    assert_one_line_error(run("generate", "--seed", -3, "--out", out), "non-negative")
    assert_one_line_error(run("generate", "--seed", 0, "--out", out, "--num-dbs", 0), "positive")
    assert_one_line_error(run("generate", "--seed", 0, "--out", out, "--workers", 0, "--num-dbs", 2,
                              "--config", small_toml), "workers")
    assert_one_line_error(run("generate", "--out", out), "--seed")  # usage errors are one line too
    assert_one_line_error(run("generate", "--seed", "x", "--out", out), "--seed")
    assert not out.exists()
    assert_one_line_error(run("inspect", tmp_path / "missing"), "no such database")
    assert_one_line_error(run("export", tmp_path / "missing", "--sqlite", tmp_path / "a.sqlite"), "no such database")
    assert not (tmp_path / "a.sqlite").exists()


def test_corrupt_inputs(db_dir, tmp_path):
    (db_dir / "metadata.json").write_text('{"tables": ')
    assert_one_line_error(run("inspect", db_dir), "metadata")
    (db_dir / "metadata.json").unlink()
    victim = sorted((db_dir / "db").glob("*.parquet"))[0]
    victim.write_bytes(b"PAR1 garbage")
    assert_one_line_error(run("inspect", db_dir), victim.name)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"\x00" * 100)
    assert_one_line_error(run("inspect", junk), "not a SQLite database")
    assert_one_line_error(run("export", db_dir, "--duckdb", tmp_path / "o.duckdb"), victim.name)
    assert not (tmp_path / "o.duckdb").exists()


def test_crash_mid_write_leaves_no_half_database(tmp_path, small_toml, monkeypatch):
    real, calls = dbfolder.write_table_parquet, {"n": 0}

    def flaky(t, path):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (simulated)")
        real(t, path)

    monkeypatch.setattr(dbfolder, "write_table_parquet", flaky)
    out = tmp_path / "out"
    r = run("generate", "--seed", 0, "--out", out, "--config", small_toml)
    assert_one_line_error(r, "disk full")
    assert calls["n"] == 2
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["small.toml"]  # no temp folder left behind


def test_unwritable_output_is_one_line(tmp_path, small_toml):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(run("generate", "--seed", 0, "--out", blocker / "sub", "--config", small_toml), "file")
    assert blocker.read_text() == "x"


def test_python_api_matches_cli(db_dir, small_toml):
    import relforge.generate.pipeline  # noqa: F401  (rebinding relforge.generate must not break the API)

    db = relforge.synthesize(4, str(small_toml))
    assert db.content_hash() == relforge.load(db_dir).content_hash()


def test_real_subprocess_error_is_one_line(tmp_path):
    """`python -m relforge` end to end: exit code 2 and exactly one stderr line, nothing written."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[schema]\nn_tables = [9, 3]\n")
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, "-m", "relforge", "generate", "--seed", "0", "--out", str(out),
                        "--config", str(cfg)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: invalid config: schema.n_tables"), p.stderr
    assert p.stdout == "" and not out.exists()


@pytest.mark.parametrize("flag,value,needle", [("--peers", -1, "peers"), ("--mask-rate", 1.5, "mask_rate"),
                                               ("--name-shuffle", 2, "name_shuffle"), ("--steps", 0, "steps"),
                                               ("--history-dropout", 1.5, "history_dropout"),
                                               ("--peer-mask", -0.1, "peer_mask")])
def test_pretrain_bad_settings_are_one_line_and_write_nothing(tmp_path, db_dir, flag, value, needle):
    stores = tmp_path / "st"
    assert run("tokenize", db_dir, "--out", stores / "db0", "--embedder", "hash:8").exit_code == 0
    r = run("pretrain", stores, "--out", tmp_path / "run", flag, value)
    assert_one_line_error(r, needle)
    assert not (tmp_path / "run").exists()


def test_pretrain_then_evaluate_zero_shot(tmp_path, db_dir):
    stores = tmp_path / "st"
    assert run("tokenize", db_dir, "--out", stores / "db0", "--embedder", "hash:8").exit_code == 0
    r = run("pretrain", stores, "--out", tmp_path / "run", "--steps", 2, "--ctx-len", 64, "--batch-size", 4,
            "--eval-every", 0, "--peers", 3, "--name-shuffle", 0.5, "--threads", 1)
    assert r.exit_code == 0, r.stderr
    rep = tmp_path / "eval.json"
    r = run("evaluate", tmp_path / "run", stores, "--max-tasks", 2, "--batches", 1, "--batch-size", 4, "--out", rep)
    assert r.exit_code == 0, r.stderr
    got = json.loads(rep.read_text())
    kinds = sorted(t["task_type"] for t in got["tasks"])
    assert len(kinds) == 2 and len(set(kinds)) == len(kinds)  # one classification and one regression task
    assert all(np.isfinite(t["loss"]) and "baseline_loss" in t for t in got["tasks"])
    assert set(got["mean"]) >= {"loss", "baseline_loss"}
    assert json.dumps(got["mean"]) in r.stdout.splitlines()  # the printed summary line
    assert_one_line_error(run("evaluate", tmp_path / "run", stores, "--max-tasks", 0), "max-tasks")


def test_pretrain_then_predict_and_evaluate_with_no_extra_flags(tmp_path, real_data_dir):
    """Weights written by `relforge pretrain` carry their embedder and context settings, so predict and
    evaluate need nothing but the weights."""
    sqlite = real_data_dir / "chinook" / "Chinook_Sqlite.sqlite"
    stores = tmp_path / "st"
    assert run("tokenize", sqlite, "--out", stores / "chinook", "--embedder", "hash:16", "--no-tasks").exit_code == 0
    r = run("pretrain", stores, "--out", tmp_path / "run", "--steps", 2, "--ctx-len", 96, "--batch-size", 2,
            "--eval-every", 0, "--peers", 2, "--threads", 1)
    assert r.exit_code == 0, r.stderr
    from relforge.model.checkpoint import read

    rec = read(tmp_path / "run" / "model.safetensors")
    assert rec.embedder["name"] == "hash:16" and (rec.context.ctx_len, rec.context.peers) == (96, 2)
    out = tmp_path / "pred.csv"
    r = run("predict", "--db", sqlite, "--table", "Invoice", "--target", "Total", "--holdout-after", "2025-06-01",
            "--checkpoint", tmp_path / "run" / "model.safetensors", "--out", out)
    assert r.exit_code == 0, r.stderr
    assert "predictions (regression)" in r.stdout and out.stat().st_size > 0
    r = run("evaluate", tmp_path / "run" / "model.safetensors", stores, "--max-tasks", 2, "--batches", 1,
            "--batch-size", 2)
    assert r.exit_code == 0, r.stderr
    # another embedder than the weights' is refused, in one line
    assert_one_line_error(run("predict", "--db", sqlite, "--table", "Invoice", "--target", "Total",
                              "--holdout-after", "2025-06-01", "--checkpoint", tmp_path / "run", "--embedder", "hash"),
                          "embedder")


def test_tokenize_negative_forecast_tasks_is_one_line_and_writes_nothing(tmp_path, db_dir):
    out = tmp_path / "st"
    assert_one_line_error(run("tokenize", db_dir, "--out", out, "--embedder", "hash:8", "--forecast-tasks", -1),
                          "--forecast-tasks must be >= 0")
    assert not out.exists()
