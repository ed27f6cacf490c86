"""Fine-tune a pretrained RT on the user's own database before predicting (``predict --finetune-steps``).

RT's fine-tuning regime for one database: continue training the pretrained weights on the task
itself, its labelled rows *before* the cut-off as seeds (autocomplete: the rows with a known value
that are not predicted; forecast: the history cut-offs of the task file), each context built the
way prediction builds them (same ``ctx_len``, BFS width and peers as the checkpoint records), the
seed's target masked. No new loop: the steps run in :func:`relforge.train.loop.fit` (the one
training loop) with AdamW from ``configure_optimizers`` and the transfer study's schedule
(:func:`relforge.train.schedule.transfer_lr`: 10 % linear warm-up, then linear decay to 10 %).

Leakage: the seeds and the peers are training rows only; the target cells of the predicted rows
hold a placeholder and are removed from every training context (as at prediction), and the
temporal rule keeps rows after a timed seed out of its context.

Defaults (:data:`DEFAULTS`): 16 contexts per step, peak lr 1e-3 (the default model's pretraining
rate), weight decay 0.1, gradient clip 1.0, the seed's target only (no extra masked cells); torch
threads as the caller set them.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from relforge.errors import RelforgeError

DEFAULTS = dict(batch_size=16, lr=1e-3, weight_decay=0.1, grad_clip=1.0, mask_rate=0.0)


@dataclass
class FinetuneResult:
    model: object  # the fine-tuned RelationalTransformer (eval mode, CPU)
    steps: int
    loss_first: float  # mean training loss over the first tenth of the steps
    loss_last: float  # ... over the last tenth
    seconds: float
    n_seeds: int

    def to_dict(self) -> dict:
        return {"steps": self.steps, "loss_first": self.loss_first, "loss_last": self.loss_last,
                "seconds": round(self.seconds, 1), "train_rows": self.n_seeds}


class _BlankedSource:
    """A sampler whose batches have the hidden rows' target cells removed (``inference.blank_hidden``)."""

    def __init__(self, sampler, hidden: np.ndarray, blank):
        self.sampler, self.hidden, self.blank = sampler, hidden, blank
        self.num_batches = sampler.num_batches

    def batch(self, b: int, epoch: int) -> dict:
        nb = self.sampler.batch(b, epoch)
        self.blank(nb, self.hidden)
        return nb


def finetune(model, task, *, steps: int, ctx_len: int, max_bfs_width: int = 128, peers: int = 0,
             hidden_nodes: np.ndarray | None = None, seed: int = 0, batch_size: int | None = None,
             lr: float | None = None, progress=None, quiet: bool = True) -> FinetuneResult:
    """Continue training a copy of ``model`` for ``steps`` steps on the seeds of ``task`` (a
    resolved :class:`relforge.tokenize.tasks.SamplerTask` over training rows only); returns it.

    ``model`` itself is not modified. ``progress``: a :class:`relforge.progress.Progress` (a line
    every few seconds with the step and the running loss).
    """
    from relforge.inference import blank_hidden
    from relforge.tokenize.sampler import ContextSampler, SamplerConfig
    from relforge.train.loop import batch_stream, fit
    from relforge.train.schedule import LambdaSchedule, transfer_lr

    del quiet
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise RelforgeError(f"--finetune-steps must be a positive integer, got {steps!r}")
    steps = int(steps)
    if len(task.seeds) == 0:
        raise RelforgeError(f"task {task.name!r}: no labelled training row to fine-tune on")
    bs = int(batch_size or DEFAULTS["batch_size"])
    sampler = ContextSampler([task], SamplerConfig(ctx_len=ctx_len, max_bfs_width=max_bfs_width, batch_size=bs,
                                                   seed=seed, shuffle=True, peers=peers))
    hidden = np.unique(np.asarray(hidden_nodes if hidden_nodes is not None else [], dtype=np.int64))
    get_batch = batch_stream(_BlankedSource(sampler, hidden, blank_hidden))
    tuned = copy.deepcopy(model).cpu()
    peak = float(lr or DEFAULTS["lr"])
    opt = tuned.configure_optimizers(peak, DEFAULTS["weight_decay"], (0.9, 0.999), device_type="cpu")
    sched = LambdaSchedule(transfer_lr(peak, steps)).attach(opt)
    t0 = time.perf_counter()

    def after(step, loss, batch):
        if progress is not None:
            progress.update("fine-tune", step + 1, steps, f"steps, loss {loss:.4f}")

    losses = fit(tuned, opt, sched, get_batch, steps, grad_clip=DEFAULTS["grad_clip"], mask_rate=DEFAULTS["mask_rate"],
                 seed=seed, after_step=after)
    tuned.eval()
    k = max(1, steps // 10)
    return FinetuneResult(tuned, steps, float(np.nanmean(losses[:k])), float(np.nanmean(losses[-k:])),
                          time.perf_counter() - t0, int(len(task.seeds)))
