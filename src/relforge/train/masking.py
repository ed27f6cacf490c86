"""Extra masked cells for pretraining (masked-token prediction beyond the seed target).

The reference recipe masks one cell per context, the seed row's target (rt_pipeline.md §2), so a
step of B contexts carries B labels. ``add_masks`` also hides a random share of the other visible
number / datetime / boolean cells and asks the model to predict them, which multiplies the labels
per step at no sampling cost. Contexts are built leak-free before masking, so hiding more cells
only removes information. Evaluation never adds masks: it scores the seed target alone.

Draws come from a generator seeded by ``(seed, step)``: the masks of a step are a function of the
run's seed and the step, whatever the worker count, and ``--resume`` reproduces them.
"""
from __future__ import annotations

import numpy as np
import torch

from relforge.model.rt import SEM_BOOLEAN, SEM_DATETIME, SEM_NUMBER
from relforge.rng import child


def add_masks(batch: dict, rate: float, seed: int, step: int) -> dict:
    """A copy of ``batch`` with each visible number/datetime/boolean cell also masked with
    probability ``rate`` (its value moved to ``target``, ``value`` zeroed, ``is_target`` set)."""
    if rate <= 0:
        return batch
    sem = batch["sem_type"]
    cand = ~batch["is_padding"] & ~batch["is_target"] & (
        (sem == SEM_NUMBER) | (sem == SEM_DATETIME) | (sem == SEM_BOOLEAN))  # text cells are never targets
    u = child(seed, "extra-masks", step).random(tuple(sem.shape), dtype=np.float32)
    pick = cand & torch.from_numpy(u < rate).to(cand.device)
    out = dict(batch)
    out["is_target"] = batch["is_target"] | pick
    out["target"] = torch.where(pick, batch["value"], batch["target"])
    out["value"] = batch["value"].masked_fill(pick, 0.0)
    return out
