"""DataLoader glue: workers give exactly the batches the sampler gives, in order."""
import numpy as np
import torch

from relforge.tokenize import ContextSampler, SamplerConfig, open_store, save_store
from relforge.tokenize.dataset import ContextDataset, make_loader, to_torch


def _same(a, b):
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), k
        else:
            assert x == y, k


def test_loader_with_two_workers_matches_sampler(toy_store, tmp_path):
    save_store(toy_store, tmp_path / "s")
    st = open_store(tmp_path / "s")
    s = ContextSampler([(st, "events.amount", "train"), (st, "user-active", "train")],
                       SamplerConfig(ctx_len=64, batch_size=4, seed=2))
    want = [to_torch(s.batch(b % s.num_batches, b // s.num_batches)) for b in range(6)]
    got = list(make_loader(s, num_workers=2, steps=6))
    assert len(got) == 6
    for a, b in zip(want, got):
        _same(a, b)
    ep = list(make_loader(s, num_workers=2, epoch=1))
    assert len(ep) == s.num_batches
    _same(ep[2], to_torch(s.batch(2, 1)))


def test_torch_dtypes_follow_the_contract(toy_store):
    s = ContextSampler([(toy_store, "events.clicked", "train")], SamplerConfig(ctx_len=32, batch_size=2))
    b = ContextDataset(s)[0]
    want = dict(node_idx=torch.int32, f2p=torch.int32, col_id=torch.int32, table_id=torch.int32, sem_type=torch.int64,
                value=torch.float32, text_id=torch.int32, is_target=torch.bool, target=torch.float32,
                is_padding=torch.bool, timestamp=torch.int64, col_emb=torch.float32, text_emb=torch.float32,
                task_idx=torch.int64, seed_row=torch.int64)
    for k, dt in want.items():
        assert b[k].dtype == dt, k
    assert b["f2p"].shape == (2, 32, 5) and b["col_emb"].shape[1] == 32
    assert isinstance(b["true_batch_size"], int)
    t = b["target"][b["is_target"]]
    assert t.shape == (2,) and np.isfinite(t.numpy()).all()
