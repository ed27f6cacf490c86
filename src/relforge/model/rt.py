"""The Relational Transformer (RT) model.

References:
1) R. Ranjan et al., "Relational Transformer: Toward Zero-Shot Foundation Models for Relational
   Data" (2025): cell tokens, column / feature / neighbor attention, masked-cell loss.
2) The PluRel paper: QK-normalization, per-sequence loss, training
   on synthetic relational databases. The exact recipe is paraphrased in rt_pipeline.md §3-§4.

Reads top to bottom like nanoGPT's model.py: the blocks (RMSNorm, attention, SwiGLU FFN, Block),
then the model (embedding, trunk, decoders, loss). How attention is computed under the relational
masks (dense / sparse / flex, the per-batch plans) is the engine in ``relforge.model.attention``;
the CPU kernels with custom autograd are in ``relforge.model.kernels``, the fused float32 CPU sublayers
the blocks use when they can (same math, fewer passes over memory) in ``relforge.model.fused``.

A batch is a dict of tensors (the contract is ``relforge.batch``; see also
``relforge.model.testing.synthetic_batch``): ``node_idx`` [B,S] local row id (-1 pad), ``f2p`` [B,S,5] local ids
of the row's parents in context (-1 none), ``col_id`` [B,S] into ``col_emb`` [U,d_text],
``sem_type`` [B,S] (0 number, 1 text, 2 datetime, 3 boolean), ``value`` [B,S], ``text_id`` [B,S]
into ``text_emb`` [V,d_text], ``is_target``, ``target``, ``is_padding``.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from relforge.batch import N_CELL_TYPES, CellType
from relforge.errors import RelforgeError
from relforge.model.attention import (ATTN_KINDS, HAS_FLEX, AttentionContext, _target_tail,  # noqa: F401 (re-exported)
                                      attention_masks)
from relforge.model import fused
from relforge.model.config import RTConfig
from relforge.model.kernels import linear, rms_norm


class RMSNorm(nn.Module):
    """x / rms(x) * weight (no bias)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class RelationalAttention(nn.Module):
    """Multi-head attention under one relational mask (col, feat or nbr), with optional QK-norm and
    optional output gate (``attn_gate``, as relational-transformer 1.10: the merged heads' output is
    multiplied elementwise by ``2 * sigmoid(W_g x)`` of the attention's input before the output
    projection; ``W_g`` starts at zero, so the gate starts at 1 and the block at the ungated one)."""

    def __init__(self, config: RTConfig, kind: str):
        super().__init__()
        self.kind, self.n_heads, self.head_dim = kind, config.n_heads, config.head_dim
        self.qkv = nn.Linear(config.d_model, 3 * config.d_model, bias=False)
        self.proj = nn.Linear(config.d_model, config.d_model, bias=False)
        self.eps = config.norm_eps
        # QK-norm: RMSNorm over head_dim with separate learnable gains for queries and keys
        self.qk_weight = nn.Parameter(torch.ones(2, 1, config.head_dim)) if config.qk_norm else None
        self.gate = nn.Linear(config.d_model, config.d_model, bias=False) if config.attn_gate else None

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
        if self.gate is not None:
            y = y * (2.0 * torch.sigmoid(linear(x, self.gate.weight)))
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
        a, norm = self.attn[kind], self.norms[kind]
        if ctx.impl == "sparse" and fused.enabled(x) and norm.eps == a.eps:  # same math, fewer passes
            return fused.attention_sublayer(x, norm.weight, a.qkv.weight, None if a.gate is None else a.gate.weight,
                                            a.proj.weight, a.qk_weight, ctx.plans[kind], a.n_heads, a.eps)
        return x + a(norm(x), ctx)

    def feed_forward(self, x):
        norm = self.norms["ffn"]
        if fused.enabled(x) and x.shape[0] > 0:
            return fused.ffn_sublayer(x, norm.weight, self.ffn.w13.weight, self.ffn.w2.weight, norm.eps)
        return x + self.ffn(norm(x))

    def forward(self, x, ctx: AttentionContext):
        for k in ATTN_KINDS:
            x = self.attend(k, x, ctx)
        return self.feed_forward(x)


# ----------------------------------------------------------------------------------- model
UNTIMED = torch.iinfo(torch.int64).min  # the sampler's timestamp of untimed rows and padding
VALUE_CLIP = 5.0  # RTConfig.linear_values: normalised values beyond +-5 sd enter the linear term clipped


def row_age(timestamp: torch.Tensor, node_idx: torch.Tensor) -> torch.Tensor:
    """Per cell, how long before its context's seed row its row happened: (B, S) -> (B, S, 2) of
    (``sign * log1p(|days|) / 4``, untimed flag). The seed row is local row 0 (the sampler's
    layout); a cell is untimed when its row or the seed is. Only differences of timestamps enter, so
    a context shifted in time looks the same."""
    seed_t = torch.where(node_idx == 0, timestamp, UNTIMED).amax(dim=1, keepdim=True)  # (B, 1)
    timed = (timestamp != UNTIMED) & (seed_t != UNTIMED)
    diff = (seed_t - torch.where(timed, timestamp, seed_t)).double() / 86400.0
    age = (torch.sign(diff) * torch.log1p(diff.abs()) / 4).float() * timed
    return torch.stack([age, (~timed).float()], dim=-1)


def column_mean_skip(batch: dict) -> torch.Tensor:
    """(B, S): at each number / datetime target cell, the mean of the visible cells of its column in
    its context (a forecast seed's label history, an autocomplete seed's peers and siblings; 0 when
    the context shows none), 0 elsewhere. ``RTConfig.copy_skip`` adds it to the decoder's output, so
    the model predicts a departure from what its context shows instead of rebuilding that mean
    through attention and a normalized output; the rule alone is the benchmark's no-model bar
    (``relforge.train.evaluate.context_label_mean``)."""
    sem, real = batch["sem_type"], ~batch["is_padding"]
    tgt = batch["is_target"] & real & ((sem == CellType.number) | (sem == CellType.datetime))
    skip = torch.zeros(tgt.shape, dtype=torch.float32, device=tgt.device)
    b, i = torch.nonzero(tgt, as_tuple=True)
    if b.numel() == 0:
        return skip
    col = batch["col_id"]
    same = (col[b] == col[b, i][:, None]) & real[b] & ~batch["is_target"][b]  # (T, S)
    vals = batch["value"][b].float()
    skip[b, i] = torch.where(same, vals, 0.0).sum(1) / same.sum(1).clamp(min=1)
    return skip


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
        self.mask_emb = nn.Parameter(torch.randn(N_CELL_TYPES, d))  # learned per-type mask embedding, no norm
        if config.rel_time:  # row age before the seed (log days) and an untimed flag -> d (no norm: the age's size counts)
            self.age_enc = nn.Linear(2, d)
        if config.linear_values:  # value -> d with no norm beside the normalized encoders (see ``embed``)
            self.value_lin = nn.ModuleDict({t: nn.Linear(1, d, bias=False) for t in ("number", "datetime")})
        self.blocks = nn.ModuleList([Block(config) for _ in range(config.n_blocks)])
        self.norm_out = RMSNorm(d, config.norm_eps)
        self.dec = nn.ModuleDict({"number": nn.Linear(d, 1), "datetime": nn.Linear(d, 1),
                                  "boolean": nn.Linear(d, 1), "text": nn.Linear(d, dt)})
        self.apply(self._init_weights)
        resid_std = 0.02 / math.sqrt(4 * config.n_blocks)  # 4 residual branches per block
        for name, p in self.named_parameters():
            if name.endswith("proj.weight") or name.endswith("w2.weight"):
                nn.init.normal_(p, mean=0.0, std=resid_std)
            elif name.endswith("gate.weight"):
                nn.init.zeros_(p)  # gate 2 * sigmoid(0) = 1 at initialisation

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
        for t, name in ((CellType.number, "number"), (CellType.datetime, "datetime"), (CellType.boolean, "boolean")):
            h = self.enc_norms[name](self.scalar_enc[name](value.to(dtype)[:, None]))  # (T, d)
            x = x + h * (visible & (sem == t))[:, None]
            if self.config.linear_values and name in ("number", "datetime"):
                # RMSNorm(Lin(v)) keeps a value only as an angle; this term carries it linearly, so
                # attention averaging values (a column's visible labels) yields their mean's embedding
                v = value.to(dtype).clamp(-VALUE_CLIP, VALUE_CLIP)[:, None]
                x = x + self.value_lin[name](v) * (visible & (sem == t))[:, None]
        is_text = visible & (sem == CellType.text) & (text_id >= 0)
        if bool(is_text.any()):
            text_h = self.enc_norms["text"](self.text_enc(batch["text_emb"].to(dtype)))  # (V, d)
            x = x + text_h[text_id.clamp(min=0)] * is_text[:, None]
        x = x + self.mask_emb[sem.clamp(0, N_CELL_TYPES - 1)] * (masked & real)[:, None]
        if self.config.rel_time:
            age = row_age(batch["timestamp"], batch["node_idx"]).reshape(-1, 2)[sel].to(dtype)  # (T, 2)
            x = x + self.age_enc(age) * real[:, None]
        return x

    def forward(self, batch: dict, ctx: AttentionContext | None = None, *, targets_only: bool = False):
        """Predictions and loss of a batch.

        ``targets_only=True`` (for training) fills ``out`` only at target cells (0 elsewhere): the
        loss reads nothing else, so the last block runs feature attention only on the rows of
        targets, their child rows and the parents of both, neighbor attention only on target rows
        and their children, and the FFN, output norm and decoders only on target cells. Same loss
        and gradients as the full forward. Sparse attention only (other implementations run the full
        forward); when the needed tokens are most of the batch (many masked targets), only the last
        block's FFN, the output norm and the decoders are restricted to the target cells.
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
            # targets_only with many targets: the last block's attention runs on every token, its FFN
            # (and the output norm and decoders) still only on the target cells, the only ones read
            ffn_idx = None
            if targets_only and ctx.impl == "sparse" and self.blocks:
                ffn_idx = torch.nonzero(batch["is_target"].reshape(-1)[sel]).flatten()
            for block in (self.blocks if ffn_idx is None else self.blocks[:-1]):
                x = block(x, ctx)
            if ffn_idx is not None:
                last = self.blocks[-1]
                for k in ATTN_KINDS:
                    x = last.attend(k, x, ctx)
                x = last.feed_forward(x[ffn_idx])
                sel = sel[ffn_idx]
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
        if self.config.copy_skip:
            out = out + column_mean_skip(batch).to(out.dtype)
        return out, self.loss(out, batch)

    def decode(self, x: torch.Tensor, sem: torch.Tensor) -> torch.Tensor:
        """Each token's scalar prediction for its own type: (T, d), (T,) -> (T,); 0 for text."""
        names = ("number", "datetime", "boolean")  # one (3, d) map instead of three (1, d) maps
        w = torch.cat([self.dec[n].weight for n in names])
        bias = torch.cat([self.dec[n].bias for n in names])
        y = F.linear(x, w, bias)  # (T, 3)
        slot = torch.full((N_CELL_TYPES,), 0, dtype=torch.long, device=sem.device)
        slot[CellType.datetime], slot[CellType.boolean] = 1, 2
        s = sem.clamp(0, N_CELL_TYPES - 1)
        pred = y.gather(1, slot[s][:, None]).squeeze(1)
        return pred.masked_fill((sem == CellType.text) | (sem < 0) | (sem >= N_CELL_TYPES), 0.0)

    def loss(self, out: torch.Tensor, batch: dict):
        """Masked-cell loss averaged per sequence, then over sequences with >= 1 target (§3 "Loss")."""
        tgt_mask = batch["is_target"] & ~batch["is_padding"]
        sem = batch["sem_type"].long()
        if bool((tgt_mask & (sem == CellType.text)).any()):
            raise RelforgeError("a text cell is masked as a target; RT predicts numbers, datetimes and booleans")
        y = batch["target"].to(out.dtype)
        huber = F.huber_loss(out.float(), y.float(), delta=self.config.huber_delta, reduction="none")
        bce = F.binary_cross_entropy_with_logits(out.float(), (y > 0).float(), reduction="none")
        per_cell = torch.where(sem == CellType.boolean, bce, huber) * tgt_mask  # (B, S)
        n_t = tgt_mask.sum(1)  # (B,)
        has = n_t > 0
        if not bool(has.any()):
            return None
        per_seq = per_cell.sum(1)[has] / n_t[has]
        return per_seq.mean()
