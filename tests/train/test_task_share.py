"""Synthetic forecast tasks mixed into pretraining: `relforge tokenize --forecast-tasks` then
`relforge pretrain --task-share` (relforge.tokenize.mix, TrainConfig.task_share)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import relforge
from relforge.cli import app
from relforge.errors import RelforgeError
from relforge.model.checkpoint import ContextSettings

CTX = ContextSettings(ctx_len=128, max_bfs_width=16)  # small contexts for a quick test

runner = CliRunner()
GEN = {"schema": {"n_tables": (4, 5), "entity_rows": (60, 100), "activity_rows": (300, 500), "n_features": (3, 5)}}


@pytest.fixture(scope="module")
def corpus_stores(tmp_path_factory):
    """Two generated databases tokenized with synthetic forecast tasks."""
    root = tmp_path_factory.mktemp("mix")
    for s in (1, 2):
        relforge.synthesize(seed=s, config=GEN).save(root / "dbs" / f"db_{s}")
    r = runner.invoke(app, ["tokenize", str(root / "dbs"), "--out", str(root / "stores"), "--embedder", "hash:16",
                            "--forecast-tasks", "3"])
    assert r.exit_code == 0, r.output
    return root / "stores"


def _forecast_share(sampler) -> float:
    kinds = np.array([t.kind == "forecast" for t in sampler.tasks])
    tk, _ = sampler.items(0)
    return float(kinds[tk].mean())


def test_stores_record_the_synthetic_tasks(corpus_stores):
    from relforge.tokenize.store import open_corpus

    stores = open_corpus(corpus_stores)
    for st in stores:
        fc = [t for t in st.index["tasks"] if t["kind"] == "forecast"]
        assert 1 <= len(fc) <= 3 and all(t["horizon_s"] > 0 for t in fc)


@pytest.mark.parametrize("share", [0.0, 0.3, 0.7, 1.0])
def test_task_share_sets_the_share_of_contexts(corpus_stores, share):
    from relforge.train.data import training_sampler

    kw = dict(batch_size=4, seed=0)
    s = training_sampler(corpus_stores, CTX, task_share=share, **kw)
    assert _forecast_share(s) == pytest.approx(share, abs=0.01)
    if 0 < share < 1:
        assert {t.kind for t in s.tasks} == {"forecast", "autocomplete"}
        again = training_sampler(corpus_stores, CTX, task_share=share, **kw)
        b1, b2 = s.batch(3, 1), again.batch(3, 1)
        for k, v in b1.items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(v, b2[k], err_msg=k)
    # without a share the recorded (forecast) tasks are trained alone, as before
    assert _forecast_share(training_sampler(corpus_stores, CTX, **kw)) == 1.0


def test_bad_share_is_one_clear_error():
    from relforge.train.config import TrainConfig

    with pytest.raises(RelforgeError, match="task_share"):
        TrainConfig(task_share=1.5)


def test_cli_pretrain_with_task_share(corpus_stores, tmp_path):
    r = runner.invoke(app, ["pretrain", str(corpus_stores), "--out", str(tmp_path / "run"), "--steps", "3",
                            "--batch-size", "4", "--ctx-len", "128", "--task-share", "0.5", "--eval-every", "0",
                            "--history-dropout", "0.5", "--copy-skip"])
    assert r.exit_code == 0, r.output
    cfg = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert cfg["task_share"] == 0.5 and cfg["history_dropout"] == 0.5 and cfg["copy_skip"] is True
    assert json.loads((tmp_path / "run" / "model_config.json").read_text())["copy_skip"] is True
    r = runner.invoke(app, ["pretrain", str(corpus_stores), "--out", str(tmp_path / "bad"), "--steps", "3",
                            "--task-share", "2"])
    assert r.exit_code == 2 and r.output.strip().splitlines()[-1].startswith("error:"), r.output


def test_forecast_splits_add_later_cutoffs_and_keep_the_share(corpus_stores):
    """Synthetic pretraining may take forecast seeds from every split: the val/test cut-offs come
    in, autocomplete stays on the training split, the forecast share holds, and the option needs a
    share (alone it would silently mean nothing)."""
    from relforge.train.config import ALL_SPLITS
    from relforge.train.data import training_sampler

    kw = dict(batch_size=4, seed=0, task_share=0.3)
    base = training_sampler(corpus_stores, CTX, **kw)
    every = training_sampler(corpus_stores, CTX, forecast_splits=ALL_SPLITS, **kw)
    assert {t.split for t in base.tasks} == {"train"}
    fc_splits = {t.split for t in every.tasks if t.kind == "forecast"}
    assert {"val", "test"} & fc_splits and "train" in fc_splits
    assert {t.split for t in every.tasks if t.kind == "autocomplete"} == {"train"}
    assert _forecast_share(every) == pytest.approx(0.3, abs=0.01)
    # per database, the added seeds are later cut-offs than every training one
    for t in every.tasks:
        if t.kind == "forecast" and t.split != "train":
            first = [u for u in every.tasks if u.store is t.store and u.name == t.name and u.split == "train"]
            assert first and t.store.arrays["node_time"][t.seeds].min() > t.store.arrays["node_time"][first[0].seeds].max()
    with pytest.raises(RelforgeError, match="task share"):
        training_sampler(corpus_stores, CTX, forecast_splits=ALL_SPLITS, batch_size=4, seed=0)
    with pytest.raises(RelforgeError, match="forecast splits"):
        training_sampler(corpus_stores, CTX, forecast_splits=("future",), **kw)
    from relforge.train.config import TrainConfig

    with pytest.raises(RelforgeError, match="forecast_splits"):
        TrainConfig(forecast_splits=ALL_SPLITS)  # no task share
    assert TrainConfig(task_share=0.3, forecast_splits=list(ALL_SPLITS)).forecast_splits == ALL_SPLITS
