"""Mixing forecast task tables into autocomplete pretraining at a chosen share of contexts.

A :class:`relforge.tokenize.sampler.ContextSampler` draws its items (task, seed row) from the
concatenated seeds of its tasks, so a task's share of the contexts is its share of the seeds.
:func:`mix_tasks` sets the forecast tasks' share to ``share`` by resampling their seed lists
(seeded; without replacement while they are long enough, whole copies plus a draw beyond that),
keeping each forecast task's share among the forecast tasks proportional to its size. The
autocomplete tasks are left as they are, so the sampler, its determinism and its workers are
unchanged.

:func:`store_task_groups` splits a store's tasks into the two groups: forecast = the task tables
recorded in the store (``relforge tokenize``; synthetic ones from
:func:`relforge.generate.tasks.forecast_tasks`), autocomplete = the store's declared autocomplete
tasks, or every discovered one when it declares none.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from relforge.db.task import TaskKind
from relforge.errors import RelforgeError
from relforge.rng import child
from relforge.tokenize.tasks import autocomplete_tasks


def store_task_groups(store) -> tuple[list, list]:
    """(forecast task names, autocomplete tasks: names or Task objects) of one store."""
    recs = store.index["tasks"]
    fc = [r["name"] for r in recs if r["kind"] == TaskKind.forecast]
    ac = [r["name"] for r in recs if r["kind"] == TaskKind.autocomplete] or autocomplete_tasks(store)
    return fc, ac


def mix_tasks(autocomplete: list, forecast: list, share: float, *, seed: int) -> list:
    """Resolved ``SamplerTask`` lists -> one list in which forecast seeds make up ``share`` of all
    seeds (``share`` 0: autocomplete only; 1: forecast only)."""
    if not 0 <= share <= 1:
        raise RelforgeError(f"task share must be in [0, 1], got {share!r}")
    if share == 0 or not forecast:
        if not autocomplete:
            raise RelforgeError("no autocomplete task to train on (task share 0)")
        return list(autocomplete)
    if share == 1 or not autocomplete:
        if share < 1 and not autocomplete:
            raise RelforgeError(f"task share {share} needs autocomplete tasks too, and there are none")
        return list(forecast)
    n_auto = sum(t.n_seeds for t in autocomplete)
    n_fc = sum(t.n_seeds for t in forecast)
    want = int(round(share / (1 - share) * n_auto))
    out = list(autocomplete)
    for i, t in enumerate(forecast):
        k = int(round(want * t.n_seeds / n_fc))
        if k == 0:
            continue
        seeds = np.asarray(t.seeds, dtype=np.int64)
        rng = child(seed, "task-share", i, t.name)
        reps, rest = divmod(k, len(seeds))
        picked = np.concatenate([np.tile(seeds, reps), rng.choice(seeds, rest, replace=False)])
        out.append(dataclasses.replace(t, seeds=np.sort(picked)))
    return out
