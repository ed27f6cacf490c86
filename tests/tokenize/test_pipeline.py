"""The `relforge tokenize` / `relforge sample` commands and real databases (Formula 1)."""
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from relforge.cli import app
from relforge.tokenize import ContextSampler, SamplerConfig, open_store

from test_sampler import check_batch

runner = CliRunner()


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory, toy_db):
    p = tmp_path_factory.mktemp("db") / "toy"
    toy_db.save(p)
    return p


def test_cli_tokenize_and_sample(toy_folder, tmp_path):
    r = runner.invoke(app, ["tokenize", str(toy_folder), "--out", str(tmp_path / "s"), "--embedder", "hash:32"])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output.splitlines()[0])
    assert info["cells"] > 0 and info["embedder"] == "hash:32"
    st = open_store(tmp_path / "s")
    assert st["col_emb"].shape == (len(st.columns), 32)
    r = runner.invoke(app, ["sample", str(tmp_path / "s"), "--task", "events.amount", "--ctx-len", "64"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["targets_per_context"] == [1] * 8
    r = runner.invoke(app, ["sample", str(tmp_path / "s"), "--task", "events.amount", "--ctx-len", "64", "--recent", "2"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["targets_per_context"] == [1] * 8


@pytest.mark.parametrize("args,msg", [
    (["--task", "events.user_id"], "key column"),
    (["--task", "nosuch.amount"], "no table"),
    (["--task", "events.nosuch"], "no column"),
    (["--task", "events.amount", "--ctx-len", "2"], "smaller than one row"),
    (["--task", "events.amount", "--recent", "-1"], "recent must be >= 0"),
])
def test_cli_bad_input_is_one_line_exit_2(toy_folder, tmp_path, args, msg):
    r = runner.invoke(app, ["tokenize", str(toy_folder), "--out", str(tmp_path / "s"), "--embedder", "hash:8"])
    assert r.exit_code == 0
    r = runner.invoke(app, ["sample", str(tmp_path / "s"), *args])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0]


def test_cli_tokenize_refuses_missing_database_and_unknown_embedder(tmp_path):
    r = runner.invoke(app, ["tokenize", str(tmp_path / "nothing"), "--out", str(tmp_path / "s"), "--embedder", "hash"])
    assert r.exit_code == 2 and "no such database" in r.output
    r = runner.invoke(app, ["tokenize", str(tmp_path), "--out", str(tmp_path / "s"), "--embedder", "glove"])
    assert r.exit_code == 2 and "unknown embedder" in r.output


def test_formula1_forecast_and_autocomplete(real_data_dir, tmp_path):
    from relforge import realdata
    from relforge.tokenize import build_cells, embed_store, save_store

    db = realdata.load("f1", real_data_dir)
    tasks = [realdata.get_task("f1", t, db=db) for t in ("driver-dnf", "results-position")]
    save_store(embed_store(build_cells(db, tasks), "hash:16"), tmp_path / "f1")
    st = open_store(tmp_path / "f1")
    for task, split in [("driver-dnf", "train"), ("driver-dnf", "test"), ("results-position", "val")]:
        s = ContextSampler([(st, task, split)], SamplerConfig(ctx_len=512, max_bfs_width=64, batch_size=8, seed=4))
        b = s.batch(0)
        check_batch(st, s, b)
        # full contexts, except for entities with no history before the cut-off (newcomer drivers)
        assert np.median((~b["is_padding"]).sum(1)) > 400
    # results-position hides positionOrder/points/milliseconds on the seed and on same-race rows
    s = ContextSampler([(st, "results-position", "train")], SamplerConfig(ctx_len=512, batch_size=8))
    b = s.batch(0)
    po = st.col_id("results", "positionOrder")
    tm = np.asarray(st["node_time"])
    ptr, ccol = np.asarray(st["cell_ptr"]), np.asarray(st["cell_col"])
    for i in range(8):
        rows = b["row_node"][i][: b["n_rows"][i]]
        seed_t = tm[rows[0]]
        for r, node in enumerate(rows):
            has_po = po in ccol[ptr[node]:ptr[node + 1]]
            ntok = int(((b["node_idx"][i] == r) & ~b["is_padding"][i]).sum())
            full = int(ptr[node + 1] - ptr[node])
            if has_po and tm[node] == seed_t:
                assert ntok < full


def test_generated_database_contexts():
    import relforge
    from relforge.tokenize import autocomplete_tasks, build_cells, embed_store

    cfg = {"schema": {"n_tables": (4, 6), "entity_rows": (60, 120), "activity_rows": (200, 400)}}
    db = relforge.synthesize(7, cfg)
    st = embed_store(build_cells(db), "hash:16")
    tasks = autocomplete_tasks(st)
    assert tasks
    timed = [t for t in tasks if t.time_col] or tasks
    static = [t for t in tasks if not t.time_col] or tasks
    for t in (timed[0], static[0]):
        for split in ("train", "test"):
            try:
                s = ContextSampler([(st, t, split)], SamplerConfig(ctx_len=256, max_bfs_width=16, batch_size=8, seed=1))
            except Exception as e:  # a split can be empty on a tiny database
                assert "no test rows" in str(e) or "no train rows" in str(e)
                continue
            check_batch(st, s, s.batch(0))


def test_cli_reads_relbench_task_folders(toy_folder, toy_db, tmp_path):
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from tok_helpers import make_forecast_task

    db = tmp_path / "db"
    shutil.copytree(toy_folder, db)
    task = make_forecast_task(toy_db)
    for split, df in task.splits.items():
        (db / "tasks" / task.name).mkdir(parents=True, exist_ok=True)
        t = pa.Table.from_pandas(df, preserve_index=False)
        md = {b"fkey_col_to_pkey_table": b'{"user_id": "users"}', b"time_col": b'"timestamp"', b"pkey_col": b"null"}
        pq.write_table(t.replace_schema_metadata({**(t.schema.metadata or {}), **md}), db / "tasks" / task.name / f"{split}.parquet")
    r = runner.invoke(app, ["tokenize", str(db), "--out", str(tmp_path / "s"), "--embedder", "hash:8"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.splitlines()[0])["tasks"] == ["user-active"]
    r = runner.invoke(app, ["sample", str(tmp_path / "s"), "--task", "user-active", "--split", "val", "--ctx-len", "64"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["kind"] == "forecast" and out["task_type"] == "binary_classification"


def test_cli_tokenizes_a_folder_of_databases_into_a_corpus(tmp_path):
    from tok_helpers import make_db

    from relforge.tokenize import open_corpus

    for s in range(3):
        make_db(s, n_events=60, name=f"db{s}").save(tmp_path / "dbs" / f"db_{s:06d}")
    r = runner.invoke(app, ["tokenize", str(tmp_path / "dbs"), "--out", str(tmp_path / "c"), "--embedder", "hash:8"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.splitlines()[0])["stores"] == 3
    c = open_corpus(tmp_path / "c")
    assert [s.name for s in c] == ["db_000000", "db_000001", "db_000002"]
    s = ContextSampler([(st, "events.amount", "train") for st in c], SamplerConfig(ctx_len=64, batch_size=6))
    b = s.batch(0)
    assert len(set(b["task_idx"].tolist())) > 1  # one batch mixes databases
    for st in c:
        one = ContextSampler([(st, "events.amount", "train")], SamplerConfig(ctx_len=64, batch_size=4))
        check_batch(st, one, one.batch(0))
