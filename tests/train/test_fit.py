"""The one training loop (`fit`) runs each study's recipe exactly as the study's own loop did.

Each reference below is the loop a study ran before it moved onto `fit` (written out plainly here as
the oracle); at a fixed seed `fit` with the study's schedule must give the same losses and weights,
bit for bit, so the published numbers reproduce.
"""
import math

import numpy as np
import pytest
import torch

from relforge.model.config import preset
from relforge.model.testing import SyntheticSource
from relforge.train.loop import batch_stream, fit, init_model
from relforge.train.masking import add_masks
from relforge.train.schedule import LambdaSchedule, OneCycle, sweep_lr, transfer_lr

D = 16
SRC = dict(batch_size=2, seq_len=96, d_text=D)


def _model(attention="dense"):
    return init_model(preset("tiny", d_text=D, attention=attention), seed=3)


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_transfer_recipe():
    steps, lr, wd = 7, 1e-3, 0.01
    src = SyntheticSource(3, seed=1, **SRC)
    ref = _model()
    opt = ref.configure_optimizers(lr, wd)
    warm, want = max(1, steps // 10), []
    ref.train()
    for s in range(steps):  # experiments/transfer.train_steps before the refactor
        f = (s + 1) / warm if s < warm else 1.0 - 0.9 * (s - warm) / max(1, steps - warm)
        for g in opt.param_groups:
            g["lr"] = lr * f
        _, loss = ref(batch_stream(src)(s))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
        want.append(float(loss.detach()))
    m = _model()
    opt = m.configure_optimizers(lr, wd)
    got = fit(m, opt, LambdaSchedule(transfer_lr(lr, steps)).attach(opt), batch_stream(src), steps, grad_clip=1.0,
              skip_empty=True)
    assert got == want and _same(m, ref)


def test_scaling_recipe_with_masks():
    steps, lr, wd, rate = 6, 1e-3, 0.1, 0.3
    src = SyntheticSource(3, seed=2, **SRC)
    ref = _model("sparse")
    opt = ref.configure_optimizers(lr, wd)
    warm, want = max(1, int(round(0.2 * steps))), []
    for step in range(steps):  # experiments/scaling.train_cell before the refactor
        for g in opt.param_groups:
            g["lr"] = lr / 25 + (lr - lr / 25) * step / warm if step < warm else \
                lr * max(1.0 - (step - warm) / max(1, steps - warm), 1.0 / 2.5e5)
        _, loss = ref(add_masks(batch_stream(src)(step), rate, 0, step), targets_only=True)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
        want.append(float(loss.detach()))
    m = _model("sparse")
    opt = m.configure_optimizers(lr, wd)
    got = fit(m, opt, LambdaSchedule(sweep_lr(lr, steps, 0.2)).attach(opt), batch_stream(src), steps, grad_clip=1.0,
              mask_rate=rate, seed=0, skip_empty=True)
    assert got == want and _same(m, ref)
    # and the name-shuffling option the sweep gained changes the run (so it is really applied)
    m2 = _model("sparse")
    opt = m2.configure_optimizers(lr, wd)
    other = fit(m2, opt, LambdaSchedule(sweep_lr(lr, steps, 0.2)).attach(opt), batch_stream(src), steps,
                grad_clip=1.0, mask_rate=rate, name_shuffle=1.0, seed=0, skip_empty=True)
    assert other != want


def test_one_cycle_matches_torch_and_records_lr():
    steps, lr = 10, 5e-4
    m = _model()
    opt = m.configure_optimizers(lr, 0.1, (0.9, 0.999))
    sched = OneCycle(lr, steps).attach(opt)
    seen = []
    fit(m, opt, sched, batch_stream(SyntheticSource(3, seed=4, **SRC)), steps,
        after_step=lambda s, loss, b: seen.append(sched.last_lr()))
    ref_opt = torch.optim.AdamW(_model().parameters(), lr=lr)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=lr, total_steps=steps + 1, pct_start=0.2,
                                              anneal_strategy="linear", div_factor=25.0, final_div_factor=1e4,
                                              base_momentum=0.85, max_momentum=0.95)
    want = []
    for _ in range(steps):
        ref_opt.step()
        ref.step()
        want.append(ref.get_last_lr()[0])
    assert seen == pytest.approx(want, rel=0, abs=0)
    assert 0.8 * lr < max(seen) <= lr and seen[-1] < lr / 100  # warm-up to the peak, then down


def test_a_batch_without_targets_is_skipped_or_refused():
    src = SyntheticSource(2, seed=5, **SRC)

    def empty(step):
        b = batch_stream(src)(step)
        return {**b, "is_target": torch.zeros_like(b["is_target"])}

    m = _model()
    opt = m.configure_optimizers(1e-3, 0.0)
    before = [p.clone() for p in m.parameters()]
    losses = fit(m, opt, LambdaSchedule(transfer_lr(1e-3, 2)).attach(opt), empty, 2, skip_empty=True)
    assert len(losses) == 2 and all(math.isnan(x) for x in losses)
    assert all(torch.equal(a, b) for a, b in zip(before, m.parameters()))  # no step was taken
    from relforge.errors import RelforgeError

    with pytest.raises(RelforgeError, match="no target cells"):
        fit(m, opt, LambdaSchedule(transfer_lr(1e-3, 2)).attach(opt), empty, 2)
    assert np.isfinite(fit(m, opt, LambdaSchedule(transfer_lr(1e-3, 2)).attach(opt), batch_stream(src), 2)).all()
