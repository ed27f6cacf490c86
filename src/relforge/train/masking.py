"""Training-time changes to a batch: extra masked cells and shuffled column names.

Extra masks (``add_masks``), masked-token prediction beyond the seed target:

The reference recipe masks one cell per context, the seed row's target (rt_pipeline.md §2), so a
step of B contexts carries B labels. ``add_masks`` also hides a random share of the other visible
number / datetime / boolean cells and asks the model to predict them, which multiplies the labels
per step at no sampling cost. Contexts are built leak-free before masking, so hiding more cells
only removes information. Evaluation never adds masks: it scores the seed target alone.

Draws come from a generator seeded by ``(seed, step)``: the masks of a step are a function of the
run's seed and the step, whatever the worker count, and ``--resume`` reproduces them.

Shuffled names (``shuffle_names``): in synthetic databases a column's name says nothing about its
role in the table's causal model, and the same names recur across databases in unrelated roles
(in a 16-database corpus, 66 names occur in 8 or more). A model trained on the true names learns
"what ``amount of grades`` does in database 3", which misleads it on a new database. Giving a
share of the contexts names drawn at random from the batch's other columns forces it to read
each column's role from the context itself (its values, the peers' rows), which is what transfers.
Draws come from ``(seed, step)`` as for the masks.
"""
from __future__ import annotations

import numpy as np
import torch

from relforge.batch import CellType
from relforge.rng import child
from relforge.train.config import NAME_SCOPES


def add_masks(batch: dict, rate: float, seed: int, step: int) -> dict:
    """A copy of ``batch`` with each visible number/datetime/boolean cell also masked with
    probability ``rate`` (its value moved to ``target``, ``value`` zeroed, ``is_target`` set)."""
    if rate <= 0:
        return batch
    sem = batch["sem_type"]
    cand = ~batch["is_padding"] & ~batch["is_target"] & (
        (sem == CellType.number) | (sem == CellType.datetime) | (sem == CellType.boolean))  # text cells are never targets
    u = child(seed, "extra-masks", step).random(tuple(sem.shape), dtype=np.float32)
    return _hide(batch, cand & torch.from_numpy(u < rate).to(cand.device))


def _hide(batch: dict, pick) -> dict:
    """A copy of ``batch`` with the ``pick`` cells masked: value moved to ``target``, ``value``
    zeroed, ``is_target`` set."""
    out = dict(batch)
    out["is_target"] = batch["is_target"] | pick
    out["target"] = torch.where(pick, batch["value"], batch["target"])
    out["value"] = batch["value"].masked_fill(pick, 0.0)
    return out


def add_peer_masks(batch: dict, rate: float, seed: int, step: int) -> dict:
    """A copy of ``batch`` in which each peer row (local rows ``1 .. n_peers``: labelled training rows
    of the seed's table, autocomplete contexts) also has its cell of the target's column masked
    with probability ``rate``. The seed's target is one in-context regression example per
    context; each masked peer is one more, answered from the other peers, as the seed's is.
    Contexts are leak-free before masking, so this only hides cells."""
    if rate <= 0 or "n_peers" not in batch:
        return batch
    tgt, node, col = batch["is_target"], batch["node_idx"], batch["col_id"]
    n_peers = torch.as_tensor(batch["n_peers"], device=node.device)
    if not bool((n_peers > 0).any()):
        return batch
    seed_tgt = tgt & (node == 0)
    # the target's column per context (-2, no column, where the seed row holds no target)
    tcol = torch.where(seed_tgt, col, torch.full_like(col, -2)).amax(dim=1)
    R = int(batch["row_node"].shape[1]) if "row_node" in batch else int(node.max()) + 1
    u = child(seed, "peer-masks", step).random((node.shape[0], max(R, 1)), dtype=np.float32)
    hide_row = torch.from_numpy(u < rate).to(node.device)  # [B, R]: which local rows are hidden
    local = node.clamp(min=0).long().clamp(max=hide_row.shape[1] - 1)
    pick = (~batch["is_padding"] & ~tgt & (node >= 1) & (node <= n_peers[:, None]) & (col == tcol[:, None])
            & torch.gather(hide_row, 1, local))
    return _hide(batch, pick) if bool(pick.any()) else batch


def shuffle_names(batch: dict, rate: float, seed: int, step: int, scope: str = "all") -> dict:
    """A copy of ``batch`` in which each context, with probability ``rate``, has its column names
    replaced: every distinct column of that context gets a fresh ``col_id`` whose embedding is a
    name drawn from the batch's distinct names without replacement (distinct columns keep distinct
    names; which cells share a column, and so the attention masks, are unchanged).

    ``scope`` (:data:`NAME_SCOPES`) limits the renaming to the target's column (``"target"``: the
    column(s) holding ``is_target`` cells) or to the others (``"other"``); the new names then avoid
    the names the context keeps."""
    if rate <= 0:
        return batch
    if scope not in NAME_SCOPES:
        raise ValueError(f"name shuffle scope must be one of {NAME_SCOPES}, got {scope!r}")
    rng = child(seed, "name-shuffle", step) if scope == "all" else child(seed, "name-shuffle", scope, step)
    col, emb, real, tgt = batch["col_id"], batch["col_emb"], ~batch["is_padding"], batch["is_target"]
    picked = np.nonzero(rng.random(col.shape[0]) < rate)[0]
    if len(picked) == 0:
        return batch
    # distinct names (the same name recurs across databases), and each col_id's name among them
    pool, name_of = torch.unique(emb, dim=0, return_inverse=True)
    new_col, extra, nxt = col.clone(), [], emb.shape[0]
    for b in picked:
        ids = torch.unique(col[b][real[b]])  # sorted distinct columns of context b
        if len(ids) == 0:
            continue
        free = None  # names the renamed columns may take: any, or those the context does not keep
        sel = ids
        if scope != "all":
            hit = torch.isin(ids, torch.unique(col[b][real[b] & tgt[b]]))
            sel, kept = (ids[hit], ids[~hit]) if scope == "target" else (ids[~hit], ids[hit])
            free = np.setdiff1d(np.arange(len(pool)), name_of[kept].cpu().numpy())
        n_free = len(pool) if free is None else len(free)
        if len(sel) == 0 or len(sel) > n_free:  # nothing to rename, or two columns sharing one name: keep them
            continue
        k = rng.choice(n_free, size=len(sel), replace=False)
        src = torch.from_numpy(k if free is None else free[k])
        pos = torch.searchsorted(sel, col[b].clamp(min=int(sel[0]))).clamp(max=len(sel) - 1)
        renamed = real[b] & torch.isin(col[b], sel)
        new_col[b] = torch.where(renamed, (nxt + pos).to(col.dtype), col[b])
        extra.append(pool[src.to(pool.device)])
        nxt += len(sel)
    out = dict(batch)
    out["col_id"] = new_col
    out["col_emb"] = torch.cat([emb, *extra]) if extra else emb
    return out
