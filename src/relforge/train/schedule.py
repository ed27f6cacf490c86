"""Learning-rate schedules of the one training loop (:func:`relforge.train.loop.fit`).

A schedule is attached to an optimizer (it sets the learning rate of the first step) and stepped
after every optimizer step, as torch's schedulers are; skipped steps (a batch without targets) are
stepped too, so the rate is always a function of the step index. Three shapes, each the one a
published study was run with (docs/results.md):

- :class:`OneCycle` (``relforge pretrain``; rt_pipeline.md §3): torch's ``OneCycleLR``, linear,
  ``lr/div_factor -> lr`` over ``pct_start`` of the steps, then down to ``lr/div/final_div``, with
  Adam's beta1 cycling 0.95 -> 0.85 -> 0.95;
- :func:`sweep_lr` (the scaling sweep): the same shape without momentum cycling, written out
  (``lr/25 -> lr`` over ``warmup_frac``, then linearly to ``lr/2.5e5``);
- :func:`transfer_lr` (the transfer study and the default model): linear warm-up over 10 % of the
  steps from ``lr/warm``, then linear decay to 10 % of ``lr``.
"""
from __future__ import annotations

from typing import Callable


class LambdaSchedule:
    """``lr_at(step)`` for every step (``start`` = the first step's index)."""

    def __init__(self, lr_at: Callable[[int], float], start: int = 0):
        self.lr_at, self.next_step, self.opt = lr_at, int(start), None

    def attach(self, opt) -> "LambdaSchedule":
        self.opt = opt
        self._set()
        return self

    def _set(self) -> None:
        lr = self.lr_at(self.next_step)
        for g in self.opt.param_groups:
            g["lr"] = lr

    def step(self) -> None:
        self.next_step += 1
        self._set()

    def last_lr(self) -> float:
        return float(self.opt.param_groups[0]["lr"])

    def state_dict(self) -> dict:
        return {"next_step": self.next_step}

    def load_state_dict(self, state: dict) -> None:
        self.next_step = int(state["next_step"])
        self._set()


class OneCycle:
    """torch ``OneCycleLR`` (linear anneal) over ``steps`` optimizer steps (see module doc)."""

    def __init__(self, lr: float, steps: int, *, pct_start: float = 0.2, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, cycle_momentum: bool = True):
        self.kw = dict(max_lr=lr, total_steps=steps + 1, pct_start=pct_start, anneal_strategy="linear",
                       div_factor=div_factor, final_div_factor=final_div_factor, cycle_momentum=cycle_momentum,
                       base_momentum=0.85, max_momentum=0.95)
        self.sched = None

    def attach(self, opt) -> "OneCycle":
        import torch

        self.sched = torch.optim.lr_scheduler.OneCycleLR(opt, **self.kw)
        return self

    def step(self) -> None:
        self.sched.step()

    def last_lr(self) -> float:
        return float(self.sched.get_last_lr()[0])

    def state_dict(self) -> dict:
        return self.sched.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.sched.load_state_dict(state)


def sweep_lr(lr: float, steps: int, warmup_frac: float) -> Callable[[int], float]:
    """The scaling sweep's rate at each step: lr/25 -> lr over ``warmup_frac`` of the steps, then
    linearly to ~0 (floored at lr/2.5e5); rt_pipeline.md §3's one-cycle shape."""
    warm = max(1, int(round(warmup_frac * steps)))

    def at(step: int) -> float:
        if step < warm:
            return lr / 25 + (lr - lr / 25) * step / warm
        return lr * max(1.0 - (step - warm) / max(1, steps - warm), 1.0 / 2.5e5)

    return at


def transfer_lr(lr: float, steps: int) -> Callable[[int], float]:
    """The transfer study's rate at each step: linear warm-up over 10 % of the steps, then linear
    decay to 10 % of ``lr``."""
    warm = max(1, steps // 10)

    def at(s: int) -> float:
        f = (s + 1) / warm if s < warm else 1.0 - 0.9 * (s - warm) / max(1, steps - warm)
        return lr * f

    return at
