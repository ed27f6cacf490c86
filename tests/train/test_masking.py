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
