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

Training contexts lack the target column as prediction contexts do: prediction removes the
values of the rows being predicted, and around a predicted row those are often many (a time
cut-off hides a whole race, a whole day of ratings), so each training context has the other rows'
target cells removed (:func:`mask_target_column`) at the share a sample of prediction contexts
lacks (:func:`hidden_share`, measured by ``predict``; peers, always visible, aside). Without it the
model learns to lean on neighbours' values it will not have. The seed's target is the only label
(the removed cells as extra labels helped rel-f1 a little and cost MovieLens most of its R2:
docs/results.md).

Defaults (:data:`DEFAULTS`): 32 contexts per step (chosen on a validation split of rel-f1:
bench/finetune_f1_val.py; 16 gave R2 0.642, 32 gave 0.689), peak lr 1e-3 (the default model's pretraining
rate), weight decay 0.1, gradient clip 1.0, the other rows' target cells removed (not masked as
extra targets: ``column_targets``); torch threads as the caller set them.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np

from relforge.errors import RelforgeError
from relforge.model.checkpoint import ContextSettings

DEFAULTS = dict(batch_size=32, lr=1e-3, weight_decay=0.1, grad_clip=1.0, mask_rate=0.0, column_targets=False)


@dataclass
class FinetuneResult:
    model: object  # the fine-tuned RelationalTransformer (eval mode, CPU)
    steps: int
    loss_first: float  # mean training loss over the first tenth of the steps
    loss_last: float  # ... over the last tenth
    seconds: float
    n_seeds: int
    column_mask: float = 0.0  # share of the other rows' target-column cells hidden per context

    def to_dict(self) -> dict:
        return {"steps": self.steps, "loss_first": self.loss_first, "loss_last": self.loss_last,
                "seconds": round(self.seconds, 1), "train_rows": self.n_seeds,
                "column_mask": round(self.column_mask, 4)}


def _other_target_cells(batch: dict) -> tuple[np.ndarray, np.ndarray]:
    """(cells, nodes): the real cells of each context's target column other than its own target and
    outside its peer rows (``n_peers`` in-context examples, always visible), and each cell's store node."""
    tgt = batch["is_target"] & ~batch["is_padding"]
    has = tgt.any(1)
    tcol = np.where(has, np.take_along_axis(batch["col_id"], np.argmax(tgt, axis=1)[:, None], 1)[:, 0], -2)
    local = batch["node_idx"]
    peer = (local >= 1) & (local <= np.asarray(batch["n_peers"])[:, None])
    cells = (batch["col_id"] == tcol[:, None]) & ~batch["is_padding"] & ~batch["is_target"] & ~peer
    node = np.where(local >= 0, np.take_along_axis(batch["row_node"], np.maximum(local, 0).astype(np.int64), 1), -1)
    return cells, node


def hidden_share(task, hidden_nodes, *, context: ContextSettings | None = None, ctx_len: int | None = None,
                 seed: int = 0, n: int = 256) -> float:
    """How much of the target column a prediction context lacks: over the contexts of (up to ``n``
    seeded) seeds of the prediction ``task``, the share of the target-column cells of other rows
    (peers aside) that belong to ``hidden_nodes`` (rows being predicted, whose values are removed);
    0 when no context reaches another row's target cell. Contexts are built as ``context`` says (a
    checkpoint's settings; default :class:`ContextSettings`), ``ctx_len`` overriding its length."""
    from dataclasses import replace

    from relforge.rng import child
    from relforge.tokenize.sampler import ContextSampler, SamplerConfig

    hidden = np.unique(np.asarray(hidden_nodes, dtype=np.int64))
    seeds = np.asarray(task.seeds, dtype=np.int64)
    if len(seeds) == 0 or len(hidden) == 0:
        return 0.0
    if len(seeds) > n:
        seeds = np.sort(child(seed, "hidden-share").choice(seeds, size=n, replace=False))
    kw = (context or ContextSettings()).replace(ctx_len=ctx_len).sampler_kw()
    sampler = ContextSampler([replace(task, seeds=seeds)], SamplerConfig(**kw, batch_size=min(64, len(seeds)), seed=seed,
                                                                         shuffle=False))
    hid = tot = 0
    for b in range(sampler.num_batches):
        batch = sampler.batch(b, 0)
        m = int(batch.get("true_batch_size", len(batch["node_idx"])))
        cells, node = _other_target_cells(batch)
        cells[m:] = False
        tot += int(cells.sum())
        hid += int(np.isin(node[cells], hidden).sum())
    return hid / tot if tot else 0.0


def mask_target_column(batch: dict, rate: float, rng: np.random.Generator, targets: bool = False) -> dict:
    """Hide, in place, each cell of a context's target column that belongs to another row (peers
    aside) with probability ``rate`` (numpy batch). Returns ``batch``.

    By default the cell is removed, as prediction removes the predicted rows' target cells
    (``inference.blank_hidden``). With ``targets`` it is masked instead: its value moves to
    ``target`` and it becomes one more label of the step.

    Why: at prediction the rows around a predicted row are often predicted rows too, whose target
    cells are removed; training contexts that show every neighbour's value teach the model to lean
    on values it will not have (rel-f1 ``results.position`` after 2010: 3.6 other target cells per
    training context, 1 per prediction context). With ``rate`` = :func:`hidden_share` of the
    prediction contexts, training contexts lack as much of the target column as prediction
    contexts do.
    """
    if rate <= 0:
        return batch
    cells, _ = _other_target_cells(batch)
    pick = cells & (rng.random(cells.shape) < rate) if rate < 1 else cells
    if pick.any() and targets:
        batch["target"][pick] = batch["value"][pick]
        batch["value"][pick] = 0.0
        batch["is_target"][pick] = True
    elif pick.any():  # removed, as prediction removes the predicted rows' cells (inference.blank_hidden)
        batch["is_padding"][pick] = True
        for k, v in (("node_idx", -1), ("f2p", -1), ("col_id", -1), ("table_id", -1), ("value", 0.0), ("text_id", -1),
                     ("sem_type", 0)):
            batch[k][pick] = v
    return batch


class _BlankedSource:
    """A sampler whose batches have the hidden rows' target cells removed (``inference.blank_hidden``),
    then the other rows' target-column cells hidden at ``column_mask`` (:func:`mask_target_column`;
    draws from ``(seed, epoch, batch)``, so a step's masks do not depend on the order batches are built)."""

    def __init__(self, sampler, hidden: np.ndarray, blank, column_mask: float = 0.0, seed: int = 0):
        self.sampler, self.hidden, self.blank = sampler, hidden, blank
        self.column_mask, self.seed = float(column_mask), seed
        self.num_batches = sampler.num_batches

    def batch(self, b: int, epoch: int) -> dict:
        from relforge.rng import child

        nb = self.sampler.batch(b, epoch)
        self.blank(nb, self.hidden)
        return mask_target_column(nb, self.column_mask, child(self.seed, "target-column-mask", epoch, b),
                                  targets=bool(DEFAULTS["column_targets"]))


def finetune(model, task, *, steps: int, context: ContextSettings | None = None, ctx_len: int | None = None,
             hidden_nodes: np.ndarray | None = None, seed: int = 0, batch_size: int | None = None,
             lr: float | None = None, column_mask: float = 0.0, progress=None, quiet: bool = True) -> FinetuneResult:
    """Continue training a copy of ``model`` for ``steps`` steps on the seeds of ``task`` (a
    resolved :class:`relforge.tokenize.tasks.SamplerTask` over training rows only); returns it.

    Training contexts are built as ``context`` says (the checkpoint's recorded settings, so that
    fine-tuning sees what prediction will; default :class:`ContextSettings`), ``ctx_len``
    overriding its length.

    ``column_mask``: the share of the other rows' target-column cells hidden in each training context
    (:func:`mask_target_column`; ``predict`` passes :func:`hidden_share` of its prediction contexts).
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
    if not 0.0 <= float(column_mask) <= 1.0:
        raise RelforgeError(f"column_mask must be in [0, 1], got {column_mask!r}")
    if len(task.seeds) == 0:
        raise RelforgeError(f"task {task.name!r}: no labelled training row to fine-tune on")
    bs = int(batch_size or DEFAULTS["batch_size"])
    kw = (context or ContextSettings()).replace(ctx_len=ctx_len).sampler_kw()
    sampler = ContextSampler([task], SamplerConfig(**kw, batch_size=bs, seed=seed, shuffle=True))
    hidden = np.unique(np.asarray(hidden_nodes if hidden_nodes is not None else [], dtype=np.int64))
    get_batch = batch_stream(_BlankedSource(sampler, hidden, blank_hidden, column_mask, seed))
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
                          time.perf_counter() - t0, int(len(task.seeds)), float(column_mask))
