"""The attention engine of the Relational Transformer: relational masks and three implementations.

Attention (rt_pipeline.md §3 "Attention masks"), all three ANDed with "both tokens are real":
  col(q,k)  = same column (col_id is unique per (db, table, column) in a batch)
  feat(q,k) = same row, or k's row is a parent of q's row
  nbr(q,k)  = q's row is a parent of k's row (k is a cell of a child row)
Query rows with no allowed key output 0, never NaN.

Three implementations compute the same function:
  ``dense``  materialized [B,S,S] masks + SDPA: the reference, O(S^2) memory.
  ``sparse`` CPU path. Every mask is block-structured: all cells of a column attend to exactly
             that column, all cells of a row share the same feat keys (own row + parents) and the
             same nbr keys (children). So queries are grouped (per column / per row), each group's
             key list is gathered once, groups are bucketed by key count, and one batched SDPA
             runs per bucket. Padding tokens are dropped from the trunk entirely.
  ``flex``   CUDA path: torch.nn.attention.flex_attention with a BlockMask (block-sparse kernel).

:class:`AttentionContext` holds one batch's masks / plans and is what the model's blocks call
(``ctx.attend(kind, q, k, v)``); ``_target_tail`` plans the targets-only last block. The model
itself (``relforge.model.rt``) knows nothing of how attention is computed.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from relforge.errors import RelforgeError

ATTN_KINDS = ("col", "feat", "nbr")

try:  # flex attention exists in torch >= 2.5; guarded so CPU-only or older installs still import
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    HAS_FLEX = True
except Exception:  # pragma: no cover
    create_block_mask = flex_attention = None
    HAS_FLEX = False


# ----------------------------------------------------------------------------- attention masks
def attention_masks(batch: dict) -> dict[str, torch.Tensor]:
    """Materialized boolean attention masks, rt_pipeline.md §3.

    Returns
    -------
    dict with keys ``col``, ``feat``, ``nbr``: bool tensors (B, S, S), ``[b, q, k]`` true when query
    q may attend to key k.
    """
    node, f2p, col = batch["node_idx"], batch["f2p"], batch["col_id"]
    real = ~batch["is_padding"]
    both = real[:, :, None] & real[:, None, :]  # (B, S, S)
    col_m = (col[:, :, None] == col[:, None, :]) & both
    same = node[:, :, None] == node[:, None, :]
    par = (f2p[:, :, :, None] == node[:, None, None, :]).any(2)  # (B, S, S): k's row in q's parents
    feat = (same | par) & both
    nbr = par.transpose(1, 2) & both  # q's row in k's parents
    return {"col": col_m, "feat": feat, "nbr": nbr}


def dense_attention(q, k, v, mask):
    """Reference: SDPA over a materialized mask; rows without keys give 0. q,k,v (B,H,S,hd)."""
    m = mask[:, None]  # (B, 1, S, S)
    has = m.any(-1, keepdim=True)  # (B, 1, S, 1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=m | ~has)
    return out.masked_fill(~has, 0.0)


@dataclass
class _Bucket:
    G: int  # groups in the bucket
    Q: int  # query slots per group (max query count)
    K: int  # key slots per group (max key count)
    q_off: int  # offset of this bucket's (G*Q) slots in the plan's flat query index
    k_off: int  # offset of this bucket's (G*K) slots in the plan's flat key index
    k_mask: torch.Tensor | None  # (G, 1, 1, K) bool, None when every group fills all K slots


@dataclass
class _GroupPlan:
    buckets: list
    q_idx: torch.Tensor  # (sum G*Q,) packed token of each query slot (0 in padded slots)
    k_idx: torch.Tensor  # (sum G*K,) packed token of each key slot (0 in padded slots)
    inv: torch.Tensor  # (N,) slot of each token in cat(bucket outputs); keyless tokens -> last (zero) row
    same_qk: bool  # query slots == key slots (column attention): one gather serves both


QCLS_MIN = 2


def _csr(seg_of: torch.Tensor, n_seg: int):
    """Tokens sorted by segment, segment lengths and start offsets."""
    order = torch.argsort(seg_of, stable=True)
    lens = torch.bincount(seg_of, minlength=n_seg)
    ptr = torch.cumsum(lens, 0) - lens
    return order, lens, ptr


def _group_plan(seg_of, n_seg, qs, ks, same_qk: bool = False) -> _GroupPlan:
    """Plan grouped attention: the queries of segment g attend to all tokens of segments ks[qs==g].

    ``seg_of`` (N,) segment of each packed token; ``(qs, ks)`` deduplicated pairs of segments.
    Groups are bucketed by key count (powers of two) so each bucket is one batched SDPA call.
    """
    n_tok = seg_of.numel()
    order, lens, ptr = _csr(seg_of, n_seg)
    srt = torch.argsort(qs * n_seg + ks)
    qs, ks = qs[srt], ks[srt]
    nk_pair = lens[ks]
    nk = torch.zeros(n_seg, dtype=torch.long).index_add_(0, qs, nk_pair)  # keys per query group
    # flat key list, grouped by query segment: pair p contributes the tokens of segment ks[p]
    total = int(nk_pair.sum())
    pair_rep = torch.repeat_interleave(torch.arange(qs.numel()), nk_pair)
    pair_start = torch.cumsum(nk_pair, 0) - nk_pair
    within = torch.arange(total) - pair_start[pair_rep]
    key_tok = order[ptr[ks[pair_rep]] + within]
    grp = qs[pair_rep]
    grp_start = torch.cumsum(nk, 0) - nk
    key_pos = torch.arange(total) - grp_start[grp]

    groups = torch.nonzero(nk > 0).flatten()
    # bucket by key count and query count (powers of two; groups of <= 8 keys, <= 4 queries share one)
    cls = (torch.ceil(torch.log2(nk[groups].double())).long().clamp(min=3) * 64
           + torch.ceil(torch.log2(lens[groups].double())).long().clamp(min=QCLS_MIN))
    buckets, q_parts, k_parts = [], [], []
    inv = torch.full((n_tok,), -1, dtype=torch.long)
    local = torch.full((n_seg,), -1, dtype=torch.long)
    q_off = k_off = 0
    for c in torch.unique(cls).tolist():
        gs = groups[cls == c]
        G = gs.numel()
        K, Q = int(nk[gs].max()), int(lens[gs].max())
        local[gs] = torch.arange(G)
        sel = local[grp] >= 0
        k_tok = torch.zeros(G, K, dtype=torch.long)
        k_tok[local[grp[sel]], key_pos[sel]] = key_tok[sel]
        k_mask = None
        if bool((nk[gs] < K).any()):
            k_mask = (torch.arange(K)[None, :] < nk[gs][:, None])[:, None, None, :]
        slot = torch.arange(Q)[None, :]
        q_ok = slot < lens[gs][:, None]  # (G, Q)
        q_tok = torch.where(q_ok, order[(ptr[gs][:, None] + slot).clamp(max=n_tok - 1)], 0)
        inv[q_tok[q_ok]] = q_off + torch.nonzero(q_ok.flatten()).flatten()
        buckets.append(_Bucket(G, Q, K, q_off, k_off, k_mask))
        q_parts.append(q_tok.flatten())
        k_parts.append(k_tok.flatten())
        q_off += G * Q
        k_off += G * K
        local[gs] = -1
    inv[inv < 0] = q_off  # the zero row appended after all bucket outputs
    empty = torch.zeros(0, dtype=torch.long)
    return _GroupPlan(buckets, torch.cat(q_parts) if q_parts else empty,
                      torch.cat(k_parts) if k_parts else empty, inv, same_qk)


def sparse_attention(q, k, v, plan: _GroupPlan):
    """Grouped attention on packed tokens. q, k, v (N, H, hd) -> (N, H*hd); keyless queries give 0.

    One gather of q rows at the query slots and of k, v rows at the key slots (their backward is
    one index_add each), then one SDPA per bucket on (G, H, Q, hd) x (G, H, K, hd). Buckets are
    cut with ``split`` (one cat in backward), not slicing (a zero-filled full-size gradient per slice).
    """
    N, H, hd = q.shape
    D = H * hd
    if plan.same_qk:  # column attention: query slots == key slots, one gather of the stacked q, k, v
        qa, ka, va = torch.stack([q, k, v], 1).index_select(0, plan.q_idx).unbind(1)  # (M, H, hd) each
    else:
        qa, ka, va = q.index_select(0, plan.q_idx), k.index_select(0, plan.k_idx), v.index_select(0, plan.k_idx)
    bks = plan.buckets
    q_parts = qa.split([bk.G * bk.Q for bk in bks])
    k_parts = ka.split([bk.G * bk.K for bk in bks])
    v_parts = va.split([bk.G * bk.K for bk in bks])
    outs = []
    for bk, qb, kb, vb in zip(bks, q_parts, k_parts, v_parts):
        qb = qb.view(bk.G, bk.Q, H, hd).transpose(1, 2)  # (G, H, Q, hd)
        kb = kb.view(bk.G, bk.K, H, hd).transpose(1, 2)  # (G, H, K, hd)
        vb = vb.view(bk.G, bk.K, H, hd).transpose(1, 2)
        ob = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=bk.k_mask)  # (G, H, Q, hd)
        outs.append(ob.transpose(1, 2).reshape(bk.G * bk.Q, D))
    if outs:
        outs.append(q.new_zeros(1, D))
    else:  # no query has a key: still keep q, k, v in the graph, so their weights get (zero) gradients
        outs.append((q.sum() + k.sum() + v.sum()).mul(0.0).expand(1, D))
    return torch.cat(outs).index_select(0, plan.inv)


def _flex_mask_mods(node, f2p, col, real):
    """mask_mod functions for flex attention (same semantics as :func:`attention_masks`)."""
    n_par = f2p.shape[-1]

    def is_parent(b, child_tok, parent_tok):
        hit = f2p[b, child_tok, 0] == node[b, parent_tok]
        for j in range(1, n_par):
            hit = hit | (f2p[b, child_tok, j] == node[b, parent_tok])
        return hit

    def col_mod(b, h, qi, ki):
        return (col[b, qi] == col[b, ki]) & real[b, qi] & real[b, ki]

    def feat_mod(b, h, qi, ki):
        return ((node[b, qi] == node[b, ki]) | is_parent(b, qi, ki)) & real[b, qi] & real[b, ki]

    def nbr_mod(b, h, qi, ki):
        return is_parent(b, ki, qi) & real[b, qi] & real[b, ki]

    return {"col": col_mod, "feat": feat_mod, "nbr": nbr_mod}


class AttentionContext:
    """Per-batch attention state shared by all blocks: token layout plus masks / plans / BlockMasks.

    The trunk works on token-major tensors (T, d). For ``sparse``, T is the number of real tokens
    (padding is dropped); for ``dense`` and ``flex``, T = B*S.
    """

    def __init__(self, batch: dict, impl: str, n_heads: int | None = None, *, sel: torch.Tensor | None = None,
                 kinds=ATTN_KINDS):
        self.impl = impl
        B, S = batch["node_idx"].shape
        self.B, self.S = B, S
        real = ~batch["is_padding"]
        dev = batch["node_idx"].device
        if impl == "sparse":
            if sel is None:
                sel = torch.nonzero(real.flatten()).flatten()  # (N,) flat positions of real tokens
            self.sel = sel
            with torch.no_grad():
                self.rows = _rows(batch, sel)  # also read by the targets-only plan of the last block
            self.plans = _sparse_plans(batch, self.rows, kinds)
        else:
            self.sel = torch.arange(B * S, device=dev)
            if impl == "dense":
                self.masks = attention_masks(batch)
            elif impl == "flex":
                if not HAS_FLEX:
                    raise RelforgeError("flex attention needs torch >= 2.5 (torch.nn.attention.flex_attention)")
                mods = _flex_mask_mods(batch["node_idx"].long(), batch["f2p"].long(),
                                       batch["col_id"].long(), real)
                self.block_masks = {k: create_block_mask(m, B, None, S, S, device=dev) for k, m in mods.items()}
            else:
                raise RelforgeError(f"unknown attention implementation {impl!r}")

    @property
    def n_tokens(self) -> int:
        return self.sel.numel()

    def attend(self, kind: str, q, k, v):
        """q, k, v (T, H, hd) -> (T, H*hd) under the ``kind`` mask."""
        T, H, hd = q.shape
        if self.impl == "sparse":
            return sparse_attention(q, k, v, self.plans[kind])
        B, S = self.B, self.S
        q, k, v = (t.reshape(B, S, H, hd).transpose(1, 2) for t in (q, k, v))  # (B, H, S, hd)
        if self.impl == "dense":
            y = dense_attention(q, k, v, self.masks[kind])
        else:
            y = _compiled_flex()(q, k, v, block_mask=self.block_masks[kind])
        return y.transpose(1, 2).reshape(T, H * hd)


_FLEX_COMPILED = None


def _compiled_flex():
    """flex_attention compiled once on CUDA (its fused kernel); eager elsewhere (tests)."""
    global _FLEX_COMPILED
    if _FLEX_COMPILED is None:
        _FLEX_COMPILED = torch.compile(flex_attention) if torch.cuda.is_available() else flex_attention
    return _FLEX_COMPILED


@dataclass
class _Rows:
    """Row structure of the packed tokens ``sel``: each token's row, and the (child, parent) row pairs."""
    b: torch.Tensor  # (N,) sequence of each token
    col: torch.Tensor  # (N,) column id of each token
    row_of: torch.Tensor  # (N,) row of each token, rows numbered 0..n_rows-1 in (sequence, node) order
    n_rows: int
    pc: torch.Tensor  # (E,) child row of each parent link (deduplicated)
    pp: torch.Tensor  # (E,) parent row of each parent link


def _rows(batch: dict, sel: torch.Tensor) -> _Rows:
    """Rows of the real tokens ``sel`` (flat positions) and their parent links within each sequence."""
    B, S = batch["node_idx"].shape
    node = batch["node_idx"].reshape(-1)[sel].long().cpu()
    col = batch["col_id"].reshape(-1)[sel].long().cpu()
    f2p = batch["f2p"].reshape(B * S, -1)[sel].long().cpu()  # (N, P)
    sel_c = sel.cpu()
    b = sel_c // S
    n_node = int(node.max()) + 2 if node.numel() else 2
    row_key = b * n_node + node
    rows, row_of = torch.unique(row_key, return_inverse=True)  # rows sorted by (b, node)
    n_rows = rows.numel()
    first = torch.full((n_rows,), sel_c.numel(), dtype=torch.long).scatter_reduce_(
        0, row_of, torch.arange(sel_c.numel()), reduce="amin")
    row_f2p = f2p[first]  # (R, P): a row's parents are a property of the row
    if not torch.equal(row_f2p[row_of], f2p):
        raise RelforgeError("batch has cells of one row with different f2p parent lists")
    # parent pairs (child row, parent row), parents resolved among the rows of the same sequence
    P = row_f2p.shape[1]
    child = torch.arange(n_rows).repeat_interleave(P)
    pkey = (rows // n_node).repeat_interleave(P) * n_node + row_f2p.reshape(-1)
    ok = (row_f2p.reshape(-1) >= 0) & (row_f2p.reshape(-1) < n_node)
    pos = torch.searchsorted(rows, pkey).clamp(max=max(n_rows - 1, 0))
    ok &= rows[pos] == pkey if n_rows else ok
    pr = torch.unique(child[ok] * n_rows + pos[ok])
    return _Rows(b, col, row_of, n_rows, pr // n_rows, pr % n_rows)


def _sparse_plans(batch: dict, r: _Rows, kinds=ATTN_KINDS) -> dict[str, _GroupPlan]:
    """Group plans for col / feat / nbr attention over the real tokens whose row structure is ``r``
    (``_rows(batch, sel)``)."""
    with torch.no_grad():
        n_rows, pc, pp = r.n_rows, r.pc, r.pp
        plans = {}
        if "col" in kinds:
            col_keys, col_of = torch.unique(r.b * (int(r.col.max()) + 2 if r.col.numel() else 2) + r.col,
                                            return_inverse=True)
            n_col = col_keys.numel()
            plans["col"] = _group_plan(col_of, n_col, torch.arange(n_col), torch.arange(n_col), same_qk=True)
        if "feat" in kinds:
            ar = torch.arange(n_rows)
            feat = torch.unique(torch.cat([ar * n_rows + ar, pc * n_rows + pp]))
            plans["feat"] = _group_plan(r.row_of, n_rows, feat // n_rows, feat % n_rows)
        if "nbr" in kinds:
            plans["nbr"] = _group_plan(r.row_of, n_rows, pp, pc)
    dev = batch["node_idx"].device
    if dev.type != "cpu":  # the sparse path is meant for CPU; still works elsewhere
        for p in plans.values():
            p.inv, p.q_idx, p.k_idx = p.inv.to(dev), p.q_idx.to(dev), p.k_idx.to(dev)
            for bk in p.buckets:
                bk.k_mask = None if bk.k_mask is None else bk.k_mask.to(dev)
    return plans


@dataclass
class _TargetTail:
    """Token subsets the last block needs when only target cells are read (``targets_only``).

    After the last block's column attention: feature attention runs on ``feat_ctx``'s tokens (rows
    of targets, their child rows, and the parents of both), neighbor attention on ``nbr_ctx``'s
    tokens (rows of targets and their child rows), the FFN and decoders on the target tokens only.
    Index tensors are positions within the previous stage's tokens.
    """
    feat_idx: torch.Tensor  # into the trunk's tokens
    feat_ctx: "AttentionContext"
    nbr_idx: torch.Tensor  # into feat_idx's tokens
    nbr_ctx: "AttentionContext"
    tgt_idx: torch.Tensor  # into nbr_idx's tokens


def _target_tail(batch: dict, sel: torch.Tensor, max_frac: float, rows: _Rows | None = None) -> _TargetTail | None:
    """Plan the targets-only last block; None when the needed tokens exceed ``max_frac`` of all.
    ``rows`` is ``_rows(batch, sel)`` when the caller has it already."""
    with torch.no_grad():
        r = rows if rows is not None else _rows(batch, sel)
        dev = sel.device
        is_t = batch["is_target"].reshape(-1)[sel].cpu()
        n_rows = r.n_rows
        need_n = torch.zeros(n_rows, dtype=torch.bool)
        need_n[r.row_of[is_t]] = True  # rows holding a target
        need_n[r.pc[need_n[r.pp]]] = True  # + their child rows (neighbor keys)
        need_f = need_n.clone()
        need_f[r.pp[need_n[r.pc]]] = True  # + parents of both (feature keys)
        tok_f = need_f[r.row_of]
        if int(tok_f.sum()) > max_frac * sel.numel():
            return None
        feat_idx = torch.nonzero(tok_f).flatten()
        in_n = need_n[r.row_of[feat_idx]]
        nbr_idx = torch.nonzero(in_n).flatten()
        tgt_idx = torch.nonzero(is_t[feat_idx][nbr_idx]).flatten()
        sel_f = sel[feat_idx.to(dev)]
        sel_n = sel_f[nbr_idx.to(dev)]
        return _TargetTail(feat_idx.to(dev), AttentionContext(batch, "sparse", sel=sel_f, kinds=("feat",)),
                           nbr_idx.to(dev), AttentionContext(batch, "sparse", sel=sel_n, kinds=("nbr",)),
                           tgt_idx.to(dev))
