"""No leakage on a real forecast task (F1 driver-dnf): contexts of val/test seeds never show a row
from after the seed's cut-off or an in-context label whose window is still open, and normalisation
statistics come from the training period only."""
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from relforge.tokenize.cells import build_cells, embed_store
from relforge.tokenize.embed import HashingEmbedder
from relforge.tokenize.sampler import ContextSampler, SamplerConfig
from relforge.tokenize.store import UNTIMED
from relforge.tokenize.tasks import resolve_task


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    from relforge.inference import torch_threads

    with torch_threads(1):
        yield


@pytest.fixture(scope="module")
def f1(real_data_dir):
    from relforge import realdata

    db = realdata.load("f1", real_data_dir)
    task = realdata.get_task("f1", "driver-dnf", db=db)
    store = embed_store(build_cells(db, [task]), HashingEmbedder(64))
    return db, task, store


@pytest.mark.parametrize("split", ["val", "test"])
def test_contexts_see_nothing_after_the_seed(f1, split):
    db, task, store = f1
    st = resolve_task(store, task, split)
    horizon = int(task.horizon.total_seconds())
    rng = np.random.default_rng(0)
    st.seeds = np.sort(rng.choice(st.seeds, size=min(48, st.n_seeds), replace=False))
    s = ContextSampler([st], SamplerConfig(ctx_len=512, batch_size=16, seed=3, shuffle=False))
    node_time = np.asarray(store["node_time"])
    node_table = np.asarray(store["node_table"])
    n_checked_rows = n_task_rows = 0
    for b in range(s.num_batches):
        batch = s.batch(b)
        for i in range(batch["true_batch_size"]):
            seed = int(batch["seed_row"][i])
            t_seed = node_time[seed]
            assert t_seed != UNTIMED and pd.Timestamp(t_seed, unit="s") >= db.val_timestamp
            rows = batch["row_node"][i, : batch["n_rows"][i]]
            assert rows[0] == seed
            times = node_time[rows]
            timed = times != UNTIMED
            assert (times[timed] <= t_seed).all(), "a row from after the seed's cut-off is in its context"
            tok = batch["timestamp"][i][~batch["is_padding"][i]]
            assert (tok[tok != UNTIMED] <= t_seed).all()
            # other rows of the task table: only those whose label window closed by the seed's time
            others = rows[1:][node_table[rows[1:]] == st.table]
            assert (node_time[others] + horizon <= t_seed).all(), "an in-context label is not yet known"
            n_task_rows += len(others)
            # exactly one masked target: the seed's label, its value hidden
            tgt = batch["is_target"][i]
            assert tgt.sum() == 1 and batch["value"][i][tgt][0] == 0.0
            assert batch["node_idx"][i][tgt][0] == 0
            n_checked_rows += len(rows)
    assert n_checked_rows > 48 and n_task_rows > 0  # contexts were non-trivial and had in-context examples


def _perturbed(db, when: str):
    """A copy of ``db`` whose numeric cells of timed tables are changed after (or before) val_timestamp."""
    tables = {}
    for name, t in db.tables.items():
        df = t.df.copy()
        if t.time_col is not None:
            late = pd.to_datetime(df[t.time_col]) >= db.val_timestamp
            rows = late if when == "after" else ~late
            for c in df.columns:
                if c not in t.key_cols and c != t.time_col and pd.api.types.is_float_dtype(df[c].dtype):
                    df.loc[rows, c] = df.loc[rows, c] * 1000.0 + 7.0
        tables[name] = replace(t, df=df)
    return replace(db, tables=tables)


def _stats(store):
    return [(c["table"], c["name"], c["stats"]) for c in store.columns], store.index.get("datetime_stats")


def test_normalisation_uses_training_period_only(f1):
    db, task, store = f1
    base = _stats(build_cells(db, [task]))
    assert base == _stats(store)
    after = _stats(build_cells(_perturbed(db, "after"), [task]))
    assert after == base, "values after val_timestamp changed the normalisation statistics"
    before = _stats(build_cells(_perturbed(db, "before"), [task]))
    assert before != base  # the check can fail: training-period values do shape the statistics
    # the label statistics of the task come from its train split
    from relforge.tokenize.stats import fit_boolean_stats

    lab = next(c for c in store.columns if c["role"] == "label")
    want = fit_boolean_stats(task.splits["train"][task.target_col].to_numpy(dtype=float)).to_dict()
    assert lab["stats"] == want
