"""Synthetic relational batches in the tokenizer's batch format, for tests and benchmarks.

:func:`synthetic_batch` draws a small random schema (entity tables and activity tables with 1-5
foreign keys), then fills each context the way the context sampler does (rt_pipeline.md §2):
a seed activity row with its target cell masked, its parent rows, the parents' other child rows,
their parents, ... until the next row would overflow the context; no partial rows, cells stably
sorted by column, padding at the tail. Every row has 10-15 cells.
"""
from __future__ import annotations

import torch

from relforge.batch import MAX_F2P, CellType



def _schema(g: torch.Generator, n_entity: int, n_activity: int):
    """Random tables: list of (n_cols, sem types, parent tables); columns get global ids."""
    tables, col0 = [], 0
    for t in range(n_entity + n_activity):
        n_cols = int(torch.randint(10, 16, (1,), generator=g))
        sem = torch.multinomial(torch.tensor([0.55, 0.1, 0.15, 0.2]), n_cols, replacement=True, generator=g)
        if t >= n_entity:  # activity: a timestamp cell, parents among the entity tables
            sem[0] = CellType.datetime
            k = int(torch.randint(1, min(MAX_F2P, n_entity) + 1, (1,), generator=g))
            parents = torch.randperm(n_entity, generator=g)[:k].tolist()
        else:  # entity: maybe one parent among earlier entity tables
            parents = [int(torch.randint(0, t, (1,), generator=g))] if t > 0 and torch.rand(1, generator=g) < 0.4 else []
        tables.append({"n_cols": n_cols, "sem": sem, "parents": parents, "col0": col0})
        col0 += n_cols
    return tables, col0


def synthetic_batch(batch_size: int = 4, seq_len: int = 1024, *, seed: int = 0, d_text: int = 384,
                    n_entity: int = 4, n_activity: int = 4, n_text: int = 64, children_per_row: int = 12,
                    target_sem: int | None = None, pad_frac: float = 0.0) -> dict:
    """A random but realistic relational batch (see module docstring).

    Parameters
    ----------
    batch_size, seq_len : int
        B and S.
    seed : int
        Seed of the torch.Generator every draw comes from.
    d_text : int
        Width of ``col_emb`` and ``text_emb``.
    children_per_row : int
        Upper bound of child rows drawn per entity row.
    target_sem : int, optional
        Force the semantic type of the target column (number, datetime or boolean).
    pad_frac : float
        Extra fraction of each context left as padding (the sampler always leaves a little).

    Returns
    -------
    dict of tensors in the batch format of ``relforge.batch``.
    """
    g = torch.Generator().manual_seed(seed)
    tables, n_col_ids = _schema(g, n_entity, n_activity)
    children_of = {t: [c for c, tc in enumerate(tables) if t in tc["parents"]] for t in range(len(tables))}
    B, S = batch_size, seq_len
    node = torch.full((B, S), -1, dtype=torch.int32)
    f2p = torch.full((B, S, MAX_F2P), -1, dtype=torch.int32)
    col = torch.zeros(B, S, dtype=torch.int32)
    table = torch.zeros(B, S, dtype=torch.int32)
    sem_t = torch.zeros(B, S, dtype=torch.int64)
    is_target = torch.zeros(B, S, dtype=torch.bool)
    budget = int(S * (1 - pad_frac))
    for b in range(B):
        rows = []  # (table, parents' local ids)
        seed_t = n_entity + int(torch.randint(0, n_activity, (1,), generator=g))
        if target_sem is not None:
            tgt_cols = [i for i in range(1, tables[seed_t]["n_cols"]) if int(tables[seed_t]["sem"][i]) == target_sem]
            tgt_col = tgt_cols[0] if tgt_cols else 1
        else:
            tgt_cols = [i for i in range(1, tables[seed_t]["n_cols"]) if int(tables[seed_t]["sem"][i]) != CellType.text]
            tgt_col = tgt_cols[int(torch.randint(0, len(tgt_cols), (1,), generator=g))] if tgt_cols else 1
        queue = [(seed_t, None)]  # (table, known child-side parent link) BFS frontier
        n_cells = 0
        stack = []
        while queue or stack:
            t, link = stack.pop() if stack else queue.pop(0)
            n_c = tables[t]["n_cols"]
            if n_cells + n_c > budget:
                break
            me = len(rows)
            parents = []
            for p_t in tables[t]["parents"]:
                if link is not None and link[0] == p_t:
                    parents.append(link[1])  # the row we came from
                elif link is None or torch.rand(1, generator=g) < 0.7:  # parent row joins the context later
                    parents.append(-(p_t + 2))  # placeholder, resolved when the parent row is added
            rows.append([t, parents, n_cells])
            n_cells += n_c
            for j, p in enumerate(parents):
                if p < -1:
                    stack.append((-(p + 2), ("child", me, j)))
            if link is not None and link[0] == "child":  # resolve the child's placeholder
                rows[link[1]][1][link[2]] = me
            for c_t in children_of[t]:
                n_ch = int(torch.randint(0, children_per_row + 1, (1,), generator=g))
                queue.extend([(c_t, (t, me))] * n_ch)
        pos = 0
        cells = []
        for r, (t, parents, _) in enumerate(rows):
            par = [p for p in parents if p >= 0][:MAX_F2P]
            n_c = tables[t]["n_cols"]
            for c in range(n_c):
                cells.append((tables[t]["col0"] + c, r, t, par, int(tables[t]["sem"][c]), r == 0 and c == tgt_col))
        cells.sort(key=lambda z: z[0])  # stable sort by column (rt_pipeline.md §2 "Assembly")
        for pos, (c, r, t, par, st, tg) in enumerate(cells):
            col[b, pos], node[b, pos], table[b, pos], sem_t[b, pos], is_target[b, pos] = c, r, t, st, tg
            f2p[b, pos, :len(par)] = torch.tensor(par, dtype=torch.int32)
    is_padding = node < 0
    if target_sem is not None:
        sem_t = torch.where(is_target, torch.tensor(target_sem), sem_t)
    value = torch.randn(B, S, generator=g)
    value = torch.where(sem_t == CellType.boolean, torch.sign(value), value)
    text_id = torch.where(sem_t == CellType.text, torch.randint(0, n_text, (B, S), generator=g, dtype=torch.int32),
                          torch.full((B, S), -1, dtype=torch.int32))
    value = torch.where(is_padding | (sem_t == CellType.text), torch.zeros(()), value)
    # the target depends on the visible context (mean of the seed row's other numbers): learnable
    seed_nums = (node == 0) & (sem_t == CellType.number) & ~is_target
    s = (value * seed_nums).sum(1) / seed_nums.sum(1).clamp(min=1)  # (B,)
    target = torch.where(sem_t == CellType.boolean, torch.where(s >= 0, 1.0, -1.0)[:, None],
                         torch.tanh(2 * s)[:, None].expand(B, S))
    target = torch.where(is_target, target, value)
    value = torch.where(is_target, torch.zeros(()), value)
    text_id = torch.where(is_padding, -1, text_id)
    return {
        "node_idx": node, "f2p": f2p, "col_id": col, "table_id": table, "sem_type": sem_t,
        "value": value.float(), "text_id": text_id, "is_target": is_target, "target": target.float(),
        "is_padding": is_padding, "timestamp": torch.zeros(B, S, dtype=torch.int64),
        "col_emb": torch.nn.functional.normalize(torch.randn(n_col_ids, d_text, generator=g), dim=-1),
        "text_emb": torch.nn.functional.normalize(torch.randn(n_text, d_text, generator=g), dim=-1),
        "true_batch_size": B,
    }


def brute_force_masks(batch: dict) -> dict[str, torch.Tensor]:
    """The three masks by explicit loops over (b, q, k) (a test oracle; O(B*S^2) Python)."""
    node, f2p, col, pad = (batch[k].tolist() for k in ("node_idx", "f2p", "col_id", "is_padding"))
    B, S = len(node), len(node[0])
    out = {k: torch.zeros(B, S, S, dtype=torch.bool) for k in ("col", "feat", "nbr")}
    for b in range(B):
        for q in range(S):
            for k in range(S):
                if pad[b][q] or pad[b][k]:
                    continue
                out["col"][b, q, k] = col[b][q] == col[b][k]
                out["feat"][b, q, k] = node[b][q] == node[b][k] or node[b][k] in f2p[b][q]
                out["nbr"][b, q, k] = node[b][q] in f2p[b][k]
    return out


class SyntheticSource:
    """A sampler-like source of synthetic batches: ``batch(b, epoch)`` is a pure function of
    (seed, b, epoch); ``num_batches`` batches per epoch. For tests and benchmarks."""

    def __init__(self, num_batches: int = 8, *, seed: int = 0, **batch_kw):
        self.num_batches, self.seed, self.batch_kw = int(num_batches), int(seed), batch_kw

    def batch(self, b: int, epoch: int = 0) -> dict:
        return synthetic_batch(seed=self.seed * 1_000_003 + epoch * 10_007 + b, **self.batch_kw)
