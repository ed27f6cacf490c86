"""Fused float32 CPU sublayers of the RT trunk, with hand-written backward passes.

The blocks of :mod:`relforge.model.rt` are written as small modules (RMSNorm, linear maps, QK-norm,
grouped attention, gate, SwiGLU). On the CPU, autograd runs each of them as separate passes over
memory, with copies between layouts (``unbind`` / ``chunk`` / ``split`` / ``cat`` and their
backwards, transposed operands for the weight gradients) and, for the many small attention groups
of the sparse engine, SDPA kernels whose per-(group, head) set-up costs more than their arithmetic.
The two functions here compute the **same math** in fewer passes:

``attention_sublayer(x, ...)`` = ``x + proj(gate * attend(qk_norm(qkv(rms_norm(x)))))``
``ffn_sublayer(x, ...)``       = ``x + w2(silu(w1 h) * w3 h)``, ``h = rms_norm(x)``

- the pre-norm gain is folded into the next weight matrix (``W (x̂ ⊙ w) = (W ⊙ w) x̂``; its gradient
  comes from the matrix-sized gradient, not from a token-sized pass);
- one matmul for q, k, v and the gate; the residual is added by the output matmul (``addmm``);
- QK-norm writes normalised queries (with the attention scale and both gains folded into the
  queries' gain, see ``RelationalAttention``) and keys into preallocated buffers;
- attention over each bucket of groups (see ``relforge.model.attention._group_plan``) is two batched
  matmuls and a softmax over the key axis, laid out keys-first so that the softmax reduces over a
  strided axis with contiguous queries (vectorised even with a handful of keys); the backward is
  the textbook softmax-attention gradient on the saved probabilities;
- weight gradients use transposed operands directly (no transposed copies).

These run only on float32 CPU tensors outside autocast with the sparse engine (see ``enabled``);
everywhere else the plain modules run. ``tests/model/test_fused.py`` checks forward and gradients
against the plain path.
"""
from __future__ import annotations

import contextlib

import torch

_ENABLED = True


def enabled(x: torch.Tensor) -> bool:
    """True when the fused sublayers apply to activations ``x``."""
    return (_ENABLED and x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 2
            and not torch.is_autocast_enabled("cpu"))


@contextlib.contextmanager
def disabled():
    """Run the plain (unfused) modules inside this block: the reference for tests and ablations."""
    global _ENABLED
    old, _ENABLED = _ENABLED, False
    try:
        yield
    finally:
        _ENABLED = old


# ----------------------------------------------------------------------------- helpers
def _rstd(x: torch.Tensor, eps: float) -> torch.Tensor:
    """1 / rms(x) over the last dim, keepdim (one pass, no squared temporary)."""
    n = torch.linalg.vector_norm(x, dim=-1, keepdim=True)
    return n.square_().div_(x.shape[-1]).add_(eps).rsqrt_()


def _rms_norm_backward(g: torch.Tensor, xh: torch.Tensor, rstd: torch.Tensor) -> torch.Tensor:
    """d/dx of x̂ = x * rstd(x) given dL/dx̂ = g (last dim): rstd * (g - x̂ mean(g x̂))."""
    m = (g * xh).mean(-1, keepdim=True)
    return torch.addcmul(g, xh, m, value=-1.0).mul_(rstd)


# ----------------------------------------------------------------------------- grouped attention core
def _attend_forward(qn: torch.Tensor, kv: torch.Tensor, plan):
    """Grouped attention of normalised, pre-scaled queries ``qn`` (T, H, hd) over keys/values ``kv``
    (T, 2, H, hd) under ``plan`` -> (T, H*hd) and what the backward needs."""
    T, H, hd = qn.shape
    D = H * hd
    qa = qn.reshape(T, D).index_select(0, plan.q_idx)  # (Mq, D) query slots
    kva = kv.reshape(T, 2 * D).index_select(0, plan.k_idx)  # (Mk, 2D) key slots
    n_q = plan.q_idx.numel()
    ya = qn.new_empty(n_q + 1, D)  # bucket outputs, token-major, + one zero row for keyless tokens
    ya[n_q].zero_()
    saved = []
    for bk in plan.buckets:
        G, Q, K = bk.G, bk.Q, bk.K
        qb = qa[bk.q_off:bk.q_off + G * Q].view(G, Q, H, hd).transpose(1, 2).reshape(G * H, Q, hd)
        kvb = kva[bk.k_off:bk.k_off + G * K].view(G, K, 2, H, hd).permute(2, 0, 3, 1, 4).reshape(2, G * H, K, hd)
        kb, vb = kvb[0], kvb[1]
        st = torch.bmm(kb, qb.transpose(1, 2))  # (GH, K, Q): scores, keys first
        if bk.k_mask is not None:  # padded key slots
            st.view(G, H, K, Q).masked_fill_(~bk.k_mask.view(G, 1, K, 1), float("-inf"))
        st.sub_(st.amax(1, keepdim=True)).exp_()
        pt = st.div_(st.sum(1, keepdim=True))  # (GH, K, Q) probabilities P^T
        ob = torch.bmm(pt.transpose(1, 2), vb)  # (GH, Q, hd)
        ya[bk.q_off:bk.q_off + G * Q].view(G, Q, H, hd).copy_(ob.view(G, H, Q, hd).transpose(1, 2))
        saved.append((qb, kb, vb, pt, ob))
    return ya.index_select(0, plan.inv), (qa.shape, kva.shape, saved)


def _attend_backward(gy: torch.Tensor, plan, saved, H: int):
    """Gradients of :func:`_attend_forward` for output gradient ``gy`` (T, D): (dqn (T, D), dkv (T, 2D))."""
    T, D = gy.shape
    hd = D // H
    qa_shape, kva_shape, per_bucket = saved
    n_q = qa_shape[0]
    gya = gy.new_zeros(n_q + 1, D)
    gya.index_copy_(0, plan.inv, gy)  # slot of each token (keyless tokens -> the unused last row)
    gqa = gy.new_empty(n_q + 1, D)
    gqa[n_q].zero_()
    gkva = gy.new_empty(kva_shape)
    for bk, (qb, kb, vb, pt, ob) in zip(plan.buckets, per_bucket):
        G, Q, K = bk.G, bk.Q, bk.K
        gob = gya[bk.q_off:bk.q_off + G * Q].view(G, Q, H, hd).transpose(1, 2).reshape(G * H, Q, hd)
        gpt = torch.bmm(vb, gob.transpose(1, 2))  # (GH, K, Q) dP^T
        delta = (gob * ob).sum(-1).unsqueeze(1)  # (GH, 1, Q) rowsum(dP * P) = rowsum(dO * O)
        gst = gpt.sub_(delta).mul_(pt)  # dS^T
        gq = torch.bmm(gst.transpose(1, 2), kb)  # (GH, Q, hd)
        gk = torch.bmm(gst, qb)  # (GH, K, hd)
        gv = torch.bmm(pt, gob)  # (GH, K, hd)
        gqa[bk.q_off:bk.q_off + G * Q].view(G, Q, H, hd).copy_(gq.view(G, H, Q, hd).transpose(1, 2))
        gkv = gkva[bk.k_off:bk.k_off + G * K].view(G, K, 2, H, hd)
        gkv[:, :, 0].copy_(gk.view(G, H, K, hd).transpose(1, 2))
        gkv[:, :, 1].copy_(gv.view(G, H, K, hd).transpose(1, 2))
    gq_tok = gqa.index_select(0, plan.inv)  # every token is in exactly one query slot (or keyless)
    gkv_tok = gy.new_zeros(T, 2 * D).index_add_(0, plan.k_idx, gkva)
    return gq_tok, gkv_tok


# ----------------------------------------------------------------------------- attention sublayer
class _AttentionSublayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_norm, w_qkv, w_gate, w_proj, qk_w, plan, H, eps, scale):
        T, d = x.shape
        hd = d // H
        rstd = _rstd(x, eps)
        xh = x * rstd
        w_in = torch.cat([w_qkv, w_gate]) if w_gate is not None else w_qkv  # (3d or 4d, d)
        w_in_n = w_in * w_norm  # pre-norm gain folded into the input projection
        z = torch.mm(xh, w_in_n.t())  # (T, 3d | 4d)
        q, k = z[:, :d].view(T, H, hd), z[:, d:2 * d].view(T, H, hd)
        kv = x.new_empty(T, 2, H, hd)
        if qk_w is not None:
            rq, rk = _rstd(q, eps), _rstd(k, eps)
            qh = q * rq
            qn = qh * (qk_w[0, 0] * qk_w[1, 0] * scale)
            torch.mul(k, rk, out=kv[:, 0])
        else:
            rq = rk = qh = None
            qn = q * scale
            kv[:, 0].copy_(k)
        kv[:, 1].copy_(z[:, 2 * d:3 * d].view(T, H, hd))
        y, att = _attend_forward(qn, kv, plan)  # (T, d)
        if w_gate is not None:
            sg = torch.sigmoid(z[:, 3 * d:])
            yg = y * sg
            yg.mul_(2.0)
        else:
            sg, yg = None, y
        out = torch.addmm(x, yg, w_proj.t())
        ctx.save_for_backward(x, xh, rstd, w_in, w_in_n, w_norm, w_proj, qk_w, qh, rq, kv, rk, y, sg, yg)
        ctx.att, ctx.plan, ctx.H, ctx.scale = att, plan, H, scale
        ctx.has_gate = w_gate is not None
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, xh, rstd, w_in, w_in_n, w_norm, w_proj, qk_w, qh, rq, kv, rk, y, sg, yg = ctx.saved_tensors
        T, d = x.shape
        H, hd = ctx.H, d // ctx.H
        g_proj = torch.mm(g.t(), yg)  # (d, d)
        gyg = torch.mm(g, w_proj)  # (T, d)
        gz = x.new_empty(T, w_in.shape[0])
        if ctx.has_gate:
            # yg = 2 y s: dy = 2 s gyg; d(gate logit) = 2 y gyg s (1 - s)
            t = gyg * y
            t.mul_(2.0)
            torch.ops.aten.sigmoid_backward.grad_input(t, sg, grad_input=gz[:, 3 * d:])
            gy = gyg.mul_(sg).mul_(2.0)
        else:
            gy = gyg
        gqn, gkv = _attend_backward(gy, ctx.plan, ctx.att, H)
        gqn = gqn.view(T, H, hd)
        gkv = gkv.view(T, 2, H, hd)
        gq = gz[:, :d].view(T, H, hd)
        gk = gz[:, d:2 * d].view(T, H, hd)
        g_qk = None
        if qk_w is not None:
            c = qk_w[0, 0] * qk_w[1, 0]
            gc = (gqn * qh).sum((0, 1)) * ctx.scale  # d loss / d (wq wk), (hd,)
            if ctx.needs_input_grad[5]:
                g_qk = torch.stack([gc * qk_w[1, 0], gc * qk_w[0, 0]])[:, None, :]
            gqh = gqn.mul_(c * ctx.scale)
            gq.copy_(_rms_norm_backward(gqh, qh, rq))
            gk.copy_(_rms_norm_backward(gkv[:, 0], kv[:, 0], rk))
        else:
            torch.mul(gqn, ctx.scale, out=gq)
            gk.copy_(gkv[:, 0])
        gz[:, 2 * d:3 * d].view(T, H, hd).copy_(gkv[:, 1])
        g_in_n = torch.mm(gz.t(), xh)  # (3d | 4d, d)
        gxh = torch.mm(gz, w_in_n)  # (T, d)
        g_in = g_in_n * w_norm
        g_norm = (g_in_n * w_in).sum(0)
        gx = _rms_norm_backward(gxh, xh, rstd).add_(g)
        g_qkv, g_gate = (g_in[:3 * d], g_in[3 * d:]) if ctx.has_gate else (g_in, None)
        return gx, g_norm, g_qkv, g_gate, g_proj, g_qk, None, None, None, None


def attention_sublayer(x, w_norm, w_qkv, w_gate, w_proj, qk_w, plan, n_heads: int, eps: float):
    """``x + attention(rms_norm(x) * w_norm)`` of ``RelationalAttention`` with the sparse ``plan``
    (the pre-norm and the QK-norm share the epsilon ``eps``, as in ``RTConfig.norm_eps``)."""
    scale = (x.shape[1] // n_heads) ** -0.5
    return _AttentionSublayer.apply(x, w_norm, w_qkv, w_gate, w_proj, qk_w, plan, n_heads, eps, scale)


# ----------------------------------------------------------------------------- feed-forward sublayer
class _FFNSublayer(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w_norm, w13, w2, eps):
        F_ = w2.shape[1]
        rstd = _rstd(x, eps)
        xh = x * rstd
        w13_n = w13 * w_norm
        ag = torch.mm(xh, w13_n.t())  # (T, 2F)
        a, gt = ag[:, :F_], ag[:, F_:]
        s = torch.nn.functional.silu(a)
        h = s * gt
        out = torch.addmm(x, h, w2.t())
        ctx.save_for_backward(xh, rstd, w13, w13_n, w_norm, w2, ag, s, h)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        xh, rstd, w13, w13_n, w_norm, w2, ag, s, h = ctx.saved_tensors
        F_ = w2.shape[1]
        a, gt = ag[:, :F_], ag[:, F_:]
        g_w2 = torch.mm(g.t(), h)  # (d, F)
        gh = torch.mm(g, w2)  # (T, F)
        gag = torch.empty_like(ag)
        torch.mul(gh, s, out=gag[:, F_:])
        torch.ops.aten.silu_backward.grad_input(gh.mul_(gt), a, grad_input=gag[:, :F_])
        g13_n = torch.mm(gag.t(), xh)  # (2F, d)
        gxh = torch.mm(gag, w13_n)
        g13 = g13_n * w_norm
        g_norm = (g13_n * w13).sum(0)
        gx = _rms_norm_backward(gxh, xh, rstd).add_(g)
        return gx, g_norm, g13, g_w2, None


def ffn_sublayer(x, w_norm, w13, w2, eps: float):
    """``x + SwiGLU(rms_norm(x) * w_norm)``."""
    return _FFNSublayer.apply(x, w_norm, w13, w2, eps)
