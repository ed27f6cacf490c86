"""Fine-tune a pretrained RT on the user's own database before predicting (``predict --finetune-steps``).

RT's fine-tuning regime for one database: continue training the pretrained weights on the task
itself, its labelled rows *before* the cut-off as seeds (autocomplete: the rows with a known value
that are not predicted; forecast: the history cut-offs of the task file), each context built the
way prediction builds them (same ``ctx_len``, BFS width and peers as the checkpoint records), the
seed's target masked. No new loop: :func:`relforge.train.loop.train` runs the steps (its AdamW,
one-cycle schedule, gradient clipping, progress bar) with ``init_from`` the pretrained weights.

Leakage: the seeds and the peers are training rows only; the target cells of the predicted rows
hold a placeholder and are removed from every training context (as at prediction), and the
temporal rule keeps rows after a timed seed out of its context.

Defaults (:data:`DEFAULTS`): 16 contexts per step, peak lr 3e-4 with 10 % warm-up, the seed's
target only (no extra masked cells), one torch thread unless the caller set more.
"""
from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relforge.errors import RelforgeError

DEFAULTS = dict(batch_size=16, lr=3e-4, pct_start=0.1, mask_rate=0.0, weight_decay=0.1)


@dataclass
class FinetuneResult:
    model: object  # the fine-tuned RelationalTransformer (eval mode, CPU)
    steps: int
    loss_first: float  # mean training loss over the first tenth of the steps (the loop's first log line)
    loss_last: float  # ... over the last tenth (its last log line)
    seconds: float
    n_seeds: int

    def to_dict(self) -> dict:
        return {"steps": self.steps, "loss_first": self.loss_first, "loss_last": self.loss_last,
                "seconds": round(self.seconds, 1), "train_rows": self.n_seeds}


class _BlankedSource:
    """A sampler whose batches have the hidden rows' target cells removed (see predict._blank_hidden)."""

    def __init__(self, sampler, hidden: np.ndarray, blank):
        self.sampler, self.hidden, self.blank = sampler, hidden, blank
        self.num_batches = sampler.num_batches

    def batch(self, b: int, epoch: int) -> dict:
        nb = self.sampler.batch(b, epoch)
        self.blank(nb, self.hidden)
        return nb


def finetune(model, task, *, steps: int, ctx_len: int, max_bfs_width: int = 128, peers: int = 0,
             hidden_nodes: np.ndarray | None = None, seed: int = 0, batch_size: int | None = None,
             lr: float | None = None, quiet: bool = False) -> FinetuneResult:
    """Continue training ``model`` for ``steps`` steps on the seeds of ``task`` (a resolved
    :class:`relforge.tokenize.tasks.SamplerTask` over training rows only); returns the new model.

    ``model`` itself is not modified (the loop trains a copy loaded from its weights).
    """
    from relforge.predict import _blank_hidden
    from relforge.tokenize.sampler import ContextSampler, SamplerConfig
    from relforge.train import checkpoint as ck
    from relforge.train.config import TrainConfig
    from relforge.train.loop import train

    import torch

    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise RelforgeError(f"--finetune-steps must be a positive integer, got {steps!r}")
    if len(task.seeds) == 0:
        raise RelforgeError(f"task {task.name!r}: no labelled training row to fine-tune on")
    bs = int(batch_size or DEFAULTS["batch_size"])
    sampler = ContextSampler([task], SamplerConfig(ctx_len=ctx_len, max_bfs_width=max_bfs_width, batch_size=bs,
                                                   seed=seed, shuffle=True, peers=peers))
    hidden = np.unique(np.asarray(hidden_nodes if hidden_nodes is not None else [], dtype=np.int64))
    source = _BlankedSource(sampler, hidden, _blank_hidden)
    cfg = TrainConfig(preset="tiny", qk_norm=bool(model.config.qk_norm), attention="auto", batch_size=bs,
                      ctx_len=ctx_len, max_bfs_width=max_bfs_width, peers=peers, steps=steps,
                      lr=float(lr or DEFAULTS["lr"]), pct_start=DEFAULTS["pct_start"],
                      weight_decay=DEFAULTS["weight_decay"], mask_rate=DEFAULTS["mask_rate"], name_shuffle=0.0,
                      amp="off", seed=seed, threads=torch.get_num_threads(), eval_every=0,
                      log_every=max(1, steps // 10), ckpt_every=steps, progress=not quiet)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="relforge-finetune-") as tmp:
        init = ck.save_weights(Path(tmp) / "init.safetensors", model)
        run = Path(tmp) / "run"
        train(cfg, source, run, d_text=model.config.d_text, init_from=init, device="cpu", quiet=quiet)
        tuned = ck.load_weights(run / "model.safetensors", attention=getattr(model.config, "attention", None))
        losses = [json.loads(x)["loss_avg"] for x in (run / "metrics.jsonl").read_text().splitlines()
                  if x.strip() and json.loads(x).get("kind") == "train"]
    tuned.eval()
    return FinetuneResult(tuned, steps, float(losses[0]), float(losses[-1]),
                          time.perf_counter() - t0, int(len(task.seeds)))
