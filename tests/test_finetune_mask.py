"""Fine-tuning hides the target column of the other rows in a context as much as prediction lacks it
(#17: ``relforge.finetune.hidden_share`` / ``mask_target_column``)."""
import numpy as np
import pandas as pd
import pytest

from relforge.db.database import Database
from relforge.db.table import Stype, Table
from relforge.finetune import _BlankedSource, hidden_share, mask_target_column
from relforge.inference import blank_hidden, embedder_for
from relforge.rng import child
from relforge.tokenize.cells import tokenize_database
from relforge.tokenize.sampler import ContextSampler, SamplerConfig
from relforge.tokenize.tasks import SamplerTask, by_time

CTX = 64


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RELFORGE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def db():
    """groups(x) <- items(group, noise, amount, created): 30 groups of about 13 items (siblings)."""
    rng = np.random.default_rng(0)
    n_groups, n_items = 30, 400
    groups = pd.DataFrame({"gid": np.arange(n_groups), "x": rng.normal(0, 1, n_groups)})
    g = rng.integers(0, n_groups, n_items)
    items = pd.DataFrame({"iid": np.arange(n_items), "gid": g, "noise": rng.normal(0, 1, n_items),
                          "amount": 3.0 * groups["x"].to_numpy()[g] + rng.normal(0, 0.3, n_items),
                          "created": pd.Timestamp("2020-01-01") + pd.to_timedelta(np.sort(rng.integers(0, 1000, n_items)),
                                                                                  unit="D")})
    db = Database({"groups": Table(groups, "gid", {}, None, {"x": Stype.numerical}),
                   "items": Table(items, "iid", {"gid": "groups"}, "created",
                                  {"noise": Stype.numerical, "amount": Stype.numerical, "created": Stype.datetime})},
                  None, None, "siblings", {})
    return db


@pytest.fixture(scope="module")
def store(db):
    return tokenize_database(db, [], embedder=embedder_for("hash:384"))


def _task(store, nodes, peers=None):
    ti, tc = store.table_id("items"), store.col_id("items", "amount")
    return SamplerTask(store, "items.amount", "autocomplete", "regression", "train", ti, tc, np.asarray(nodes, np.int64),
                       np.zeros(len(store.columns), dtype=np.uint8), peers=peers)


def _batch(task, peers=0, bs=64):
    return ContextSampler([task], SamplerConfig(ctx_len=CTX, batch_size=bs, seed=0, shuffle=False, peers=peers)).batch(0, 0)


def _amount_cells(batch):
    """Real cells of the items.amount column (``col_id`` is local to a batch: the seed target's)."""
    tgt = batch["is_target"] & ~batch["is_padding"]
    assert (tgt.sum(1) == 1).all()
    tc = batch["col_id"][tgt]
    return (batch["col_id"] == tc[:, None]) & ~batch["is_padding"]


def _other_amount_cells(store, batch):
    """Cells of the items.amount column that are not the context's own seed target (local row 0)."""
    return _amount_cells(batch) & (batch["node_idx"] != 0)


def test_mask_target_column_removes_or_masks_the_other_rows_values(store):
    a, b = store.node_range(store.table_id("items"))
    batch = _batch(_task(store, np.arange(a, b)))
    other = _other_amount_cells(store, batch)
    assert other.sum() > len(other)  # siblings reached through the group: more than one per context
    before = {k: np.array(v, copy=True) for k, v in batch.items() if isinstance(v, np.ndarray)}
    rest = ~other
    # default: removed, as prediction removes the predicted rows' cells
    removed = mask_target_column({k: np.array(v, copy=True) for k, v in before.items()}, 1.0, child(0, "t"))
    assert removed["is_padding"][other].all() and (removed["col_id"][other] == -1).all()
    assert (removed["node_idx"][other] == -1).all() and not removed["is_target"][other].any()
    for k in ("is_padding", "is_target", "value", "col_id", "node_idx"):
        np.testing.assert_array_equal(removed[k][rest], before[k][rest])  # nothing else changes
    # targets=True: masked, the true values become labels
    mask_target_column(batch, 1.0, child(0, "t"), targets=True)
    assert batch["is_target"][other].all() and (batch["value"][other] == 0).all()
    np.testing.assert_array_equal(batch["target"][other], before["value"][other])
    np.testing.assert_array_equal(batch["is_target"][rest], before["is_target"][rest])
    np.testing.assert_array_equal(batch["value"][rest], before["value"][rest])
    # rate 0: untouched; rate 0.5: about half, the same cells for the same generator
    b0 = _batch(_task(store, np.arange(a, b)))
    mask_target_column(b0, 0.0, child(0, "t"))
    np.testing.assert_array_equal(b0["is_padding"], before["is_padding"])
    h1, h2 = (mask_target_column(_batch(_task(store, np.arange(a, b))), 0.5, child(0, "t")) for _ in range(2))
    np.testing.assert_array_equal(h1["is_padding"], h2["is_padding"])
    share = (h1["is_padding"] & other).sum() / other.sum()
    assert 0.35 < share < 0.65, share


def test_peer_rows_stay_visible(store):
    """Peers are labelled in-context examples that prediction shows too: never masked."""
    a, b = store.node_range(store.table_id("items"))
    nodes = np.arange(a, b)
    batch = _batch(_task(store, nodes, peers=by_time(store, nodes)), peers=4)
    assert batch["n_peers"].max() == 4
    local = batch["node_idx"]
    peer = (local >= 1) & (local <= batch["n_peers"][:, None])
    peer_cells = peer & _amount_cells(batch)
    others = _other_amount_cells(store, batch) & ~peer
    assert peer_cells.any() and others.any()
    mask_target_column(batch, 1.0, child(0, "t"))
    assert not batch["is_padding"][peer_cells].any() and not batch["is_target"][peer_cells].any()
    assert batch["is_padding"][others].all()


def test_hidden_share_measures_what_prediction_contexts_lack(store):
    a, b = store.node_range(store.table_id("items"))
    nodes = np.arange(a, b)
    # every row predicted: no other row's value is visible
    assert hidden_share(_task(store, nodes), nodes, ctx_len=CTX) == 1.0
    # a random tenth predicted: about a tenth of the siblings' values are missing
    tenth = np.sort(np.random.default_rng(1).choice(nodes, size=40, replace=False))
    s = hidden_share(_task(store, tenth), tenth, ctx_len=CTX)
    assert 0.03 < s < 0.2, s
    # the latest quarter predicted (a time cut-off): a later row sees earlier siblings (visible) and the
    # predicted ones before it, so the share lies between the two and matches a direct count
    late = nodes[-100:]
    s_late = hidden_share(_task(store, late), late, ctx_len=CTX)
    batch = _batch(_task(store, late), bs=100)
    other = _other_amount_cells(store, batch)
    node = np.take_along_axis(batch["row_node"], np.maximum(batch["node_idx"], 0).astype(np.int64), 1)
    direct = np.isin(node[other], late).mean()
    assert 0.05 < s_late < 0.95 and abs(s_late - direct) < 1e-12
    # no hidden row: nothing lacks
    assert hidden_share(_task(store, late), np.zeros(0, np.int64), ctx_len=CTX) == 0.0


def test_finetune_batches_look_like_prediction_batches(store):
    """A training batch keeps no target cell of a hidden row (their placeholders are removed first)
    and, at share 1, no other row's value of the target column at all: only the seeds' targets."""
    a, b = store.node_range(store.table_id("items"))
    nodes = np.arange(a, b)
    hidden = np.sort(np.random.default_rng(2).choice(nodes, size=100, replace=False))
    train = np.setdiff1d(nodes, hidden)
    sampler = ContextSampler([_task(store, train)], SamplerConfig(ctx_len=CTX, batch_size=64, seed=0, shuffle=True))
    raw = sampler.batch(0, 0)
    amount = _amount_cells(raw)  # before blanking and hiding
    node = np.take_along_axis(raw["row_node"], np.maximum(raw["node_idx"], 0).astype(np.int64), 1)
    assert np.isin(node[amount], hidden).any()  # hidden rows' placeholders do reach training contexts
    assert (amount & ~raw["is_target"] & ~np.isin(node, hidden)).any()  # so do known values
    tc = raw["col_id"][raw["is_target"]]
    for targets in (False, True):
        batch = _BlankedSource(sampler, hidden, blank_hidden, 1.0, seed=0).batch(0, 0) if not targets else \
            mask_target_column(_blanked(sampler, hidden), 1.0, child(0, "t"), targets=True)
        node = np.take_along_axis(batch["row_node"], np.maximum(batch["node_idx"], 0).astype(np.int64), 1)
        cells = (batch["col_id"] == tc[:, None]) & ~batch["is_padding"]
        assert not np.isin(node[cells], hidden).any()  # never a placeholder, visible or as a label
        assert (cells == batch["is_target"]).all()  # no visible value of the column is left
        n_targets = batch["is_target"].sum()
        assert n_targets == len(tc) if not targets else n_targets > 1.5 * len(tc)
    again = _BlankedSource(sampler, hidden, blank_hidden, 0.5, seed=0).batch(0, 0)
    once = _BlankedSource(sampler, hidden, blank_hidden, 0.5, seed=0).batch(0, 0)
    np.testing.assert_array_equal(again["is_padding"], once["is_padding"])  # deterministic


def _blanked(sampler, hidden):
    batch = sampler.batch(0, 0)
    blank_hidden(batch, hidden)
    return batch


def test_predict_finetune_hides_the_measured_share(db, tmp_path):
    """``autocomplete --finetune-steps`` measures the share on its prediction contexts and records it:
    after a time cut-off the later siblings are predicted (a share between 0 and 1), and the same
    seed gives the same share and predictions."""
    from relforge.experiments.transfer import TransferConfig, new_model
    from relforge.inference import torch_threads
    from relforge.model.checkpoint import ContextSettings, load, save
    from relforge.predict import autocomplete

    p = tmp_path / "tiny.safetensors"
    save(p, new_model(TransferConfig(embedder="hash", ctx_len=CTX), 384, seed=0), embedder={"name": "hash:384", "dim": 384},
         context=ContextSettings(ctx_len=CTX))
    cut = str(db["items"].df["created"].quantile(0.75))
    with torch_threads(1):
        runs = [autocomplete(db, "items", "amount", holdout_after=cut, ckpt=load(p), finetune_steps=3, seed=0)
                for _ in range(2)]
    share = runs[0].finetune["column_mask"]
    assert 0.05 < share < 0.95, share
    assert runs[1].finetune["column_mask"] == share
    np.testing.assert_array_equal(runs[0].frame["amount_pred"].to_numpy(), runs[1].frame["amount_pred"].to_numpy())
