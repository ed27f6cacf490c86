import numpy as np
import torch

from relforge.model.testing import synthetic_batch
from relforge.train.masking import add_masks


def _batch():
    return synthetic_batch(4, 256, seed=3, d_text=16, pad_frac=0.1)


def test_extra_masks_hide_values_and_keep_the_seed_target():
    b = _batch()
    m = add_masks(b, 0.3, seed=0, step=5)
    new = m["is_target"] & ~b["is_target"]
    sem = b["sem_type"]
    assert bool(b["is_target"].le(m["is_target"]).all())  # seed targets stay masked, with their labels
    assert torch.equal(m["target"][b["is_target"]], b["target"][b["is_target"]])
    assert new.any()
    assert not bool((new & b["is_padding"]).any())
    assert not bool((new & (sem == 1)).any())  # text cells are never masked
    assert torch.equal(m["target"][new], b["value"][new])  # the hidden value becomes the label
    assert bool((m["value"][new] == 0).all())
    assert torch.equal(m["value"][~new], b["value"][~new])
    # about 30 % of the eligible cells
    elig = ~b["is_padding"] & ~b["is_target"] & (sem != 1)
    share = float(new.sum()) / float(elig.sum())
    assert 0.2 < share < 0.4, share
    assert b["value"] is not m["value"]  # the input batch is not modified


def test_masks_are_a_function_of_seed_and_step():
    b = _batch()
    a1, a2 = add_masks(b, 0.3, seed=0, step=5), add_masks(b, 0.3, seed=0, step=5)
    assert torch.equal(a1["is_target"], a2["is_target"])
    assert not torch.equal(add_masks(b, 0.3, seed=0, step=6)["is_target"], a1["is_target"])
    assert not torch.equal(add_masks(b, 0.3, seed=1, step=5)["is_target"], a1["is_target"])
    assert add_masks(b, 0.0, seed=0, step=5) is b


def test_extra_masks_train_on_more_labels_than_the_seed_target_alone():
    """The loss with extra masks averages over many more cells per sequence."""
    from relforge.model.config import preset
    from relforge.model.rt import RelationalTransformer

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = RelationalTransformer(preset("tiny", d_text=16))
    b = _batch()
    m = add_masks(b, 0.3, seed=0, step=0)
    assert int(m["is_target"].sum()) > 10 * int(b["is_target"].sum())
    _, loss = model(m)
    assert loss is not None and np.isfinite(float(loss.detach()))


def _names(batch, b):
    """Per real cell of context ``b``: its column id and its name embedding."""
    real = ~batch["is_padding"][b]
    ids = batch["col_id"][b][real].long()
    return ids, batch["col_emb"][ids]


def test_shuffled_names_keep_the_columns_and_change_only_their_names():
    from relforge.model.attention import attention_masks
    from relforge.train.masking import shuffle_names

    b = synthetic_batch(8, 256, seed=4, d_text=16, pad_frac=0.1)
    before = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in b.items()}
    s = shuffle_names(b, 0.5, seed=0, step=7)
    m0, m1 = attention_masks(b), attention_masks(s)
    assert all(torch.equal(m0[k], m1[k]) for k in m0)  # which cells share a column is unchanged
    for k in b:  # only the names moved; the input batch is untouched
        if k not in ("col_id", "col_emb") and torch.is_tensor(b[k]):
            assert torch.equal(s[k], b[k]), k
        if torch.is_tensor(b[k]):
            assert torch.equal(b[k], before[k]), k
    pool = {tuple(r.tolist()) for r in b["col_emb"]}
    changed = 0
    for i in range(8):
        ids0, e0 = _names(b, i)
        ids1, e1 = _names(s, i)
        if torch.equal(e0, e1):
            assert torch.equal(ids0, ids1)
            continue
        changed += 1
        # one name per column, distinct columns get distinct names, all drawn from the batch's names
        cols = torch.unique(ids1)
        names = torch.stack([s["col_emb"][c] for c in cols])
        assert len(torch.unique(names, dim=0)) == len(cols)
        for c in cols:
            assert len(torch.unique(e1[ids1 == c], dim=0)) == 1
        assert all(tuple(r.tolist()) in pool for r in names)
        assert not set(cols.tolist()) & set(ids0.tolist())  # fresh ids: no other context shares them
    assert 1 <= changed <= 7  # about half of 8 contexts
    assert all(not torch.equal(*(x[1] for x in (_names(b, i), _names(shuffle_names(b, 1.0, 0, 7), i))))
               for i in range(8))


def test_shuffled_names_are_a_function_of_seed_and_step():
    from relforge.train.masking import shuffle_names

    b = synthetic_batch(8, 128, seed=5, d_text=16)
    a1, a2 = shuffle_names(b, 0.5, seed=0, step=3), shuffle_names(b, 0.5, seed=0, step=3)
    assert torch.equal(a1["col_id"], a2["col_id"]) and torch.equal(a1["col_emb"], a2["col_emb"])
    assert not torch.equal(shuffle_names(b, 1.0, seed=0, step=4)["col_emb"], shuffle_names(b, 1.0, 0, 3)["col_emb"])
    assert shuffle_names(b, 0.0, seed=0, step=3) is b


def test_scoped_name_shuffle_renames_only_the_target_column_or_only_the_others():
    """scope "target": the column of the masked cells gets a new name, every other column keeps
    its own; scope "other": the reverse. New names avoid the names the context keeps."""
    from relforge.model.attention import attention_masks
    from relforge.train.masking import shuffle_names

    b = synthetic_batch(8, 256, seed=4, d_text=16, pad_frac=0.1)
    for scope in ("target", "other"):
        s = shuffle_names(b, 1.0, seed=0, step=7, scope=scope)
        m0, m1 = attention_masks(b), attention_masks(s)
        assert all(torch.equal(m0[k], m1[k]) for k in m0)  # same columns, only names move
        n_renamed = 0
        for i in range(8):
            real = ~b["is_padding"][i]
            tgt_cols = set(b["col_id"][i][real & b["is_target"][i]].tolist())
            ids0, e0 = _names(b, i)
            ids1, e1 = _names(s, i)
            renamed = ids0 != ids1
            in_tgt = torch.tensor([c in tgt_cols for c in ids0.tolist()])
            assert torch.equal(renamed, in_tgt if scope == "target" else ~in_tgt), (scope, i)
            kept = {tuple(r.tolist()) for r in e0[~renamed]}
            assert not any(tuple(r.tolist()) in kept for r in e1[renamed])  # no clash with a kept name
            n_renamed += int(renamed.any())
        assert n_renamed >= 6, (scope, n_renamed)
    a, c = shuffle_names(b, 1.0, 0, 7, "target"), shuffle_names(b, 1.0, 0, 7, "target")
    assert torch.equal(a["col_emb"], c["col_emb"]) and torch.equal(a["col_id"], c["col_id"])


def _peer_batch(peers=8):
    import relforge
    from relforge.batch import to_torch
    from relforge.tokenize import ContextSampler, SamplerConfig, autocomplete_tasks, build_cells, embed_store, resolve_task

    cfg = {"schema": {"n_tables": (3, 5), "entity_rows": (60, 90), "activity_rows": (150, 300)}}
    st = embed_store(build_cells(relforge.synthesize(2, cfg)), "hash:8")
    tasks = [resolve_task(st, t, "train", ctx_len=256) for t in autocomplete_tasks(st)[:4]]
    s = ContextSampler(tasks, SamplerConfig(ctx_len=256, batch_size=16, seed=0, peers=peers))
    return to_torch(s.batch(0))


def test_peer_masks_hide_the_target_column_of_peer_rows_only():
    from relforge.train.masking import add_peer_masks

    b = _peer_batch()
    m = add_peer_masks(b, 1.0, seed=0, step=0)
    new = m["is_target"] & ~b["is_target"]
    n_peers = torch.as_tensor(b["n_peers"])
    assert int(n_peers.sum()) > 0 and new.any()
    for i in range(b["is_target"].shape[0]):
        seed_tgt = b["is_target"][i] & (b["node_idx"][i] == 0)
        col = int(b["col_id"][i][seed_tgt][0])
        rows = b["node_idx"][i][new[i]]
        # every peer row loses exactly its target-column cell, and nothing else is hidden
        assert sorted(rows.tolist()) == list(range(1, int(n_peers[i]) + 1))
        assert bool((b["col_id"][i][new[i]] == col).all())
    assert torch.equal(m["target"][new], b["value"][new]) and bool((m["value"][new] == 0).all())
    assert torch.equal(m["value"][~new], b["value"][~new])
    # a share of them at rate 0.5; a function of seed and step; rate 0 is a no-op
    half = add_peer_masks(b, 0.5, seed=0, step=0)
    k = int((half["is_target"] & ~b["is_target"]).sum())
    assert 0.25 * int(new.sum()) < k < 0.75 * int(new.sum())
    assert torch.equal(half["is_target"], add_peer_masks(b, 0.5, seed=0, step=0)["is_target"])
    assert not torch.equal(half["is_target"], add_peer_masks(b, 0.5, seed=0, step=1)["is_target"])
    assert add_peer_masks(b, 0.0, seed=0, step=0) is b
