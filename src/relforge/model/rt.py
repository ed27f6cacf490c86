"""The Relational Transformer (RT), in one file.

References:
1) R. Ranjan et al., "Relational Transformer: Toward Zero-Shot Foundation Models for Relational
   Data" (2025): cell tokens, column / feature / neighbor attention, masked-cell loss.
2) The PluRel paper (/work/shared/seeds/000_*.txt): QK-normalization, per-sequence loss, training
   on synthetic relational databases. The exact recipe is paraphrased in rt_pipeline.md §3-§4.

Reads top to bottom: attention masks and the three attention implementations, then the blocks
(RMSNorm, attention, SwiGLU FFN, Block), then the model (embedding, trunk, decoders, loss).

A batch is a dict of tensors (see ``relforge.model.testing.synthetic_batch`` and
/work/notes/batch_format.md): ``node_idx`` [B,S] local row id (-1 pad), ``f2p`` [B,S,5] local ids
of the row's parents in context (-1 none), ``col_id`` [B,S] into ``col_emb`` [U,d_text],
``sem_type`` [B,S] (0 number, 1 text, 2 datetime, 3 boolean), ``value`` [B,S], ``text_id`` [B,S]
into ``text_emb`` [V,d_text], ``is_target``, ``target``, ``is_padding``.

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
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from relforge.errors import RelforgeError
from relforge.model.config import RTConfig

SEM_NUMBER, SEM_TEXT, SEM_DATETIME, SEM_BOOLEAN = 0, 1, 2, 3  # rt_pipeline.md §1 "Cells"
N_SEM = 4
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
    cls = torch.ceil(torch.log2(nk[groups].double())).long().clamp(min=3)  # groups of <= 8 keys share a bucket
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


# ---------------------------------------------------------------------------------- blocks
_ONEDNN_LINEAR = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)


class _OneDNNLinear(torch.autograd.Function):
    """x @ w.T with oneDNN's matmul for the forward and both gradients (float32 CPU).

    Same math as ``F.linear``; on this AMD CPU torch's default float32 GEMM (MKL) reaches about half
    of oneDNN's throughput with 2 threads, and the trunk is mostly these GEMMs.
    """

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return _ONEDNN_LINEAR(x, w, None, "none", [], "")

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = _ONEDNN_LINEAR(g, w.t(), None, "none", [], "")  # g @ w
        if ctx.needs_input_grad[1]:
            gw = _ONEDNN_LINEAR(g.t(), x.t(), None, "none", [], "")  # g.T @ x
        return gx, gw


def linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Bias-free linear map of a (T, in) matrix: oneDNN on float32 CPU when available, else F.linear."""
    if (_ONEDNN_LINEAR is not None and x.dim() == 2 and x.device.type == "cpu" and x.dtype == torch.float32
            and w.dtype == torch.float32 and x.shape[0] > 0 and not torch.is_autocast_enabled("cpu")
            and torch.backends.mkldnn.is_available()):
        return _OneDNNLinear.apply(x, w)
    return F.linear(x, w)


class _RMSNormFn(torch.autograd.Function):
    """x / rms(x) [* w] over the last dim, with a hand-written backward (about half the passes over
    memory of autograd's decomposition of ``F.rms_norm`` on CPU)."""

    @staticmethod
    def forward(ctx, x, w, eps):
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True).add_(eps))
        ctx.save_for_backward(x, rstd, w)
        xh = x * rstd
        return xh if w is None else xh.mul_(w)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, rstd, w = ctx.saved_tensors
        xh = x * rstd
        gx = gw = None
        if w is not None:
            if ctx.needs_input_grad[1]:
                gw = (g * xh).reshape(-1, x.shape[-1]).sum(0)
            g = g * w
        if ctx.needs_input_grad[0]:
            gx = (g - xh * (g * xh).mean(-1, keepdim=True)).mul_(rstd)
        return gx, gw, None


def rms_norm(x: torch.Tensor, weight: torch.Tensor | None, eps: float) -> torch.Tensor:
    """RMSNorm over the last dim; ``F.rms_norm`` math (custom backward on CPU autograd)."""
    if x.device.type == "cpu" and torch.is_grad_enabled() and not torch.is_autocast_enabled("cpu"):
        return _RMSNormFn.apply(x, weight, eps)
    return F.rms_norm(x, (x.shape[-1],), weight, eps)


class RMSNorm(nn.Module):
    """x / rms(x) * weight (no bias)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class RelationalAttention(nn.Module):
    """Multi-head attention under one relational mask (col, feat or nbr), with optional QK-norm."""

    def __init__(self, config: RTConfig, kind: str):
        super().__init__()
        self.kind, self.n_heads, self.head_dim = kind, config.n_heads, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.eps = config.norm_eps
        # QK-norm: RMSNorm over head_dim with separate learnable gains for queries and keys
        self.qk_weight = nn.Parameter(torch.ones(2, 1, config.head_dim)) if config.qk_norm else None

    def forward(self, x, ctx: AttentionContext):
        T, d = x.shape
        q, k, v = linear(x, self.qkv.weight).view(T, 3, self.n_heads, self.head_dim).unbind(1)  # (T, H, hd) each
        if self.qk_weight is not None:
            # scores only see sum_i (wq_i q_i)(wk_i k_i) = sum_i (wq_i wk_i) q_i k_i: the product of the
            # two gains goes on the queries (same function and gradients, one fused norm each)
            wq, wk = self.qk_weight[:, 0].unbind(0)
            q = rms_norm(q, wq * wk, self.eps)
            k = rms_norm(k, None, self.eps)
        y = ctx.attend(self.kind, q, k, v)  # (T, d)
        return linear(y, self.proj.weight)


class SwiGLU(nn.Module):
    """W2(silu(W1 x) * W3 x), no biases."""

    def __init__(self, config: RTConfig):
        super().__init__()
        self.w13 = nn.Linear(config.d_model, 2 * config.d_ff, bias=False)  # W1 and W3 fused
        self.w2 = nn.Linear(config.d_ff, config.d_model, bias=False)

    def forward(self, x):
        a, g = linear(x, self.w13.weight).chunk(2, dim=-1)  # (T, d_ff) each
        return linear(F.silu(a) * g, self.w2.weight)


class Block(nn.Module):
    """Pre-norm residual block: col-attn, feat-attn, nbr-attn, SwiGLU FFN (rt_pipeline.md §3)."""

    def __init__(self, config: RTConfig):
        super().__init__()
        self.attn = nn.ModuleDict({k: RelationalAttention(config, k) for k in ATTN_KINDS})
        self.norms = nn.ModuleDict({k: RMSNorm(config.d_model, config.norm_eps) for k in (*ATTN_KINDS, "ffn")})
        self.ffn = SwiGLU(config)

    def attend(self, kind: str, x, ctx: AttentionContext):
        """x + kind-attention(norm(x)): one pre-norm residual attention step."""
        return x + self.attn[kind](self.norms[kind](x), ctx)

    def feed_forward(self, x):
        return x + self.ffn(self.norms["ffn"](x))

    def forward(self, x, ctx: AttentionContext):
        for k in ATTN_KINDS:
            x = self.attend(k, x, ctx)
        return self.feed_forward(x)


# ----------------------------------------------------------------------------------- model
class RelationalTransformer(nn.Module):
    """Cell embeddings -> n_blocks relational blocks -> output norm -> per-type decoders.

    ``forward(batch) -> (out, loss)``: ``out`` (B, S) holds each cell's prediction for its own type
    (number / datetime value, boolean logit; 0 for text and padding); ``loss`` is the masked-cell
    loss (Huber for numbers and datetimes, BCE-with-logits for booleans), averaged per sequence
    over its targets, then over sequences that have targets (None if no sequence has one).
    """

    def __init__(self, config: RTConfig):
        super().__init__()
        self.config = config
        d, dt = config.d_model, config.d_text
        # encoders (with bias: a 1 -> d map followed by RMSNorm would otherwise only keep the sign)
        self.col_enc = nn.Linear(dt, d)
        self.text_enc = nn.Linear(dt, d)
        self.scalar_enc = nn.ModuleDict({t: nn.Linear(1, d) for t in ("number", "datetime", "boolean")})
        self.enc_norms = nn.ModuleDict(
            {t: RMSNorm(d, config.norm_eps) for t in ("col", "number", "text", "datetime", "boolean")})
        self.mask_emb = nn.Parameter(torch.randn(N_SEM, d))  # learned per-type mask embedding, no norm
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_blocks)])
        self.norm_out = RMSNorm(d, config.norm_eps)
        self.dec = nn.ModuleDict({"number": nn.Linear(d, 1), "datetime": nn.Linear(d, 1),
                                  "boolean": nn.Linear(d, 1), "text": nn.Linear(d, dt)})
        self.apply(self._init_weights)
        resid_std = 0.02 / math.sqrt(4 * config.n_blocks)  # 4 residual branches per block
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("w2.weight"):
                nn.init.normal_(p, mean=0.0, std=resid_std)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def get_num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def configure_optimizers(self, lr: float, weight_decay: float, betas=(0.9, 0.999), decay_all: bool = True,
                             device_type: str = "cpu"):
        """AdamW. PluRel decays **all** parameters (rt_pipeline.md §6.11); ``decay_all=False`` decays
        only matrices (nanoGPT's choice)."""
        params = [p for p in self.parameters() if p.requires_grad]
        if decay_all:
            groups = [{"params": params, "weight_decay": weight_decay}]
        else:
            groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                      {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        # fused AdamW: one kernel for all tensors, on CPU too (torch >= 2.4); ~8x faster than foreach there
        extra = {"fused": True} if device_type in ("cuda", "cpu") else {}
        try:
            return torch.optim.AdamW(groups, lr=lr, betas=betas, **extra)
        except (RuntimeError, ValueError):  # an older torch without the fused CPU kernel
            return torch.optim.AdamW(groups, lr=lr, betas=betas, foreach=True)

    def attention_impl(self, device: torch.device) -> str:
        impl = self.config.attention
        if impl == "auto":
            impl = "flex" if device.type == "cuda" and HAS_FLEX else "sparse"
        return impl

    def embed(self, batch: dict, sel: torch.Tensor) -> torch.Tensor:
        """Input cell embeddings (rt_pipeline.md §3 "Input") of the flat token positions ``sel``: (T, d)."""
        flat = lambda key: batch[key].reshape(-1)[sel]  # noqa: E731
        col, sem = flat("col_id").long(), flat("sem_type").long()
        value, text_id = flat("value"), flat("text_id").long()
        masked, real = flat("is_target"), ~flat("is_padding")
        dtype = self.mask_emb.dtype
        col_h = self.enc_norms["col"](self.col_enc(batch["col_emb"].to(dtype)))  # (U, d), once per column
        x = col_h[col.clamp(min=0)] * real[:, None]
        visible = real & ~masked
        for t, name in ((SEM_NUMBER, "number"), (SEM_DATETIME, "datetime"), (SEM_BOOLEAN, "boolean")):
            h = self.enc_norms[name](self.scalar_enc[name](value.to(dtype)[:, None]))  # (T, d)
            x = x + h * (visible & (sem == t))[:, None]
        is_text = visible & (sem == SEM_TEXT) & (text_id >= 0)
        if bool(is_text.any()):
            text_h = self.enc_norms["text"](self.text_enc(batch["text_emb"].to(dtype)))  # (V, d)
            x = x + text_h[text_id.clamp(min=0)] * is_text[:, None]
        x = x + self.mask_emb[sem.clamp(0, N_SEM - 1)] * (masked & real)[:, None]
        return x

    def forward(self, batch: dict, ctx: AttentionContext | None = None, *, targets_only: bool = False):
        """Predictions and loss of a batch.

        ``targets_only=True`` (for training) fills ``out`` only at target cells (0 elsewhere): the
        loss reads nothing else, so the last block runs feature attention only on the rows of
        targets, their child rows and the parents of both, neighbor attention only on target rows
        and their children, and the FFN, output norm and decoders only on target cells. Same loss
        and gradients as the full forward. Sparse attention only; with other implementations, or
        when the needed tokens are most of the batch (many masked targets), it runs the full forward.
        """
        node = batch["node_idx"]
        B, S = node.shape
        if ctx is None:
            ctx = AttentionContext(batch, self.attention_impl(node.device), self.config.n_heads)
        tail = None
        if targets_only and ctx.impl == "sparse" and self.blocks:
            tail = _target_tail(batch, ctx.sel, max_frac=0.6, rows=ctx.rows)
        x = self.embed(batch, ctx.sel)  # (T, d)
        sel = ctx.sel
        if tail is None:
            for block in self.blocks:
                x = block(x, ctx)
        else:
            for block in self.blocks[:-1]:
                x = block(x, ctx)
            last = self.blocks[-1]
            x = last.attend("col", x, ctx)  # column keys are every token of the column
            x = last.attend("feat", x[tail.feat_idx], tail.feat_ctx)
            x = last.attend("nbr", x[tail.nbr_idx], tail.nbr_ctx)
            x = last.feed_forward(x[tail.tgt_idx])
            sel = tail.nbr_ctx.sel[tail.tgt_idx]
        pred = self.decode(self.norm_out(x), batch["sem_type"].reshape(-1)[sel].long())
        out = pred.new_zeros(B * S).index_copy(0, sel, pred).view(B, S)  # (B, S)
        return out, self.loss(out, batch)

    def decode(self, x: torch.Tensor, sem: torch.Tensor) -> torch.Tensor:
        """Each token's scalar prediction for its own type: (T, d), (T,) -> (T,); 0 for text."""
        names = ("number", "datetime", "boolean")  # one (3, d) map instead of three (1, d) maps
        w = torch.cat([self.dec[n].weight for n in names])
        bias = torch.cat([self.dec[n].bias for n in names])
        y = F.linear(x, w, bias)  # (T, 3)
        slot = torch.full((N_SEM,), 0, dtype=torch.long, device=sem.device)
        slot[SEM_DATETIME], slot[SEM_BOOLEAN] = 1, 2
        s = sem.clamp(0, N_SEM - 1)
        pred = y.gather(1, slot[s][:, None]).squeeze(1)
        return pred.masked_fill((sem == SEM_TEXT) | (sem < 0) | (sem >= N_SEM), 0.0)

    def loss(self, out: torch.Tensor, batch: dict):
        """Masked-cell loss averaged per sequence, then over sequences with >= 1 target (§3 "Loss")."""
        tgt_mask = batch["is_target"] & ~batch["is_padding"]
        sem = batch["sem_type"].long()
        if bool((tgt_mask & (sem == SEM_TEXT)).any()):
            raise RelforgeError("a text cell is masked as a target; RT predicts numbers, datetimes and booleans")
        y = batch["target"].to(out.dtype)
        huber = F.huber_loss(out.float(), y.float(), delta=self.config.huber_delta, reduction="none")
        bce = F.binary_cross_entropy_with_logits(out.float(), (y > 0).float(), reduction="none")
        per_cell = torch.where(sem == SEM_BOOLEAN, bce, huber) * tgt_mask  # (B, S)
        n_t = tgt_mask.sum(1)  # (B,)
        has = n_t > 0
        if not bool(has.any()):
            return None
        per_seq = per_cell.sum(1)[has] / n_t[has]
        return per_seq.mean()
