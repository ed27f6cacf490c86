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
- QK-norm writes normalised queries (the attention scale and both gains folded into the queries'
  gain, as ``RelationalAttention`` does), keys and values straight into head-major (H, T+1, hd)
  buffers whose last row is zero, so each bucket's (head, group) matrices are one row gather away
  (padded slots read the zero row) and no layout copy surrounds the batched matmuls;
- the grouped attention itself runs as numba loops over each group's token lists
  (``relforge.model._attn_numba``: no padding, no gathered copies; heads in parallel on torch's
  thread count, numba's own ``workqueue`` thread pool unless the user chose a threading layer);
  the batched-matmul core is the fallback (``CORE = "bmm"``), tested against it: there, attention
  over each bucket of groups (see ``relforge.model.attention._group_plan``) is two batched
  matmuls and a softmax over the key axis, laid out keys-first so that the softmax reduces over a
  strided axis with contiguous queries (vectorised even with a handful of keys); the backward is
  the textbook softmax-attention gradient on the saved probabilities, written by ``bmm(out=...)``
  into the gradient buffers and gathered / scattered back to tokens once;
- weight gradients use transposed operands directly (no transposed copies).

The attention sublayer runs on float32 CPU activations outside autocast with the sparse engine,
the FFN sublayer on float32 CPU activations outside autocast with any engine (see ``enabled``);
everywhere else (CUDA, autocast, other dtypes, ``disabled()``) the plain modules run.
``tests/model/test_fused.py`` checks forward and gradients against the plain modules and against a
literal dense transcription of the math.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np
import torch

_ENABLED = True

try:  # numba is a dependency; the batched-matmul core below stays as the fallback and the reference
    import numba as _numba

    from relforge.model import _attn_numba
except Exception:  # pragma: no cover
    _numba = _attn_numba = None

CORE = "numba" if _attn_numba is not None else "bmm"  # grouped-attention core of the sublayer


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


def _rms_norm_backward(g: torch.Tensor, xh: torch.Tensor, rstd: torch.Tensor, out=None) -> torch.Tensor:
    """d/dx of x̂ = x * rstd(x) given dL/dx̂ = g (last dim): rstd * (g - x̂ mean(g x̂))."""
    m = (g * xh).mean(-1, keepdim=True)
    if out is None:
        return torch.addcmul(g, xh, m, value=-1.0).mul_(rstd)
    return torch.addcmul(g, xh, m, value=-1.0, out=out).mul_(rstd)


# ----------------------------------------------------------------------------- grouped attention core
def _head_major_index(plan, n_tok: int, n_heads: int):
    """Row indices of ``plan`` for head-major (H, T+1, hd) buffers whose row T is zero, cached on
    the plan: ``q_rows`` / ``k_rows`` gather every bucket's query / key slots as (H, G, Q | K)
    (padded slots read the zero row), ``out_rows`` gathers each (head, token) back from the
    bucket outputs laid out the same way plus one final zero row (tokens without keys)."""
    key = (n_tok, n_heads)
    cache = plan.__dict__.setdefault("_hm", {})
    if key in cache:
        return cache[key]
    H, T = n_heads, n_tok
    n_q, n_k = plan.q_idx.numel(), plan.k_idx.numel()
    dev = plan.q_idx.device
    hit = torch.zeros(n_q + 1, dtype=torch.bool, device=dev)
    hit[plan.inv] = True
    q_tok = torch.where(hit[:n_q], plan.q_idx, T)
    k_ok = torch.cat([torch.ones(bk.G * bk.K, dtype=torch.bool, device=dev) if bk.k_mask is None
                      else bk.k_mask.reshape(-1) for bk in plan.buckets]) if plan.buckets else hit[:0]
    k_tok = torch.where(k_ok, plan.k_idx, T)
    heads = torch.arange(H, device=dev)[:, None] * (T + 1)
    q_rows, k_rows = [], []
    slot_base = torch.empty(n_q + 1, dtype=torch.long, device=dev)  # flat output row of (head 0, slot)
    slot_step = torch.empty(n_q + 1, dtype=torch.long, device=dev)  # + head * this
    for bk in plan.buckets:
        nq, nk = bk.G * bk.Q, bk.G * bk.K
        q_rows.append((heads + q_tok[bk.q_off:bk.q_off + nq]).reshape(-1))
        k_rows.append((heads + k_tok[bk.k_off:bk.k_off + nk]).reshape(-1))
        slot_base[bk.q_off:bk.q_off + nq] = H * bk.q_off + torch.arange(nq, device=dev)
        slot_step[bk.q_off:bk.q_off + nq] = nq
    slot_base[n_q], slot_step[n_q] = H * n_q, 0
    s = plan.inv
    out_rows = (slot_base[s][None, :] + torch.arange(H, device=dev)[:, None] * slot_step[s][None, :]).reshape(-1)
    empty = torch.zeros(0, dtype=torch.long, device=dev)
    res = (torch.cat(q_rows) if q_rows else empty, torch.cat(k_rows) if k_rows else empty, out_rows)
    cache[key] = res
    return res


def _group_lists(plan):
    """``plan``'s groups as token lists (CSR, numpy int64, cached on the plan): the real query
    tokens and the real key tokens of every group, groups in bucket order."""
    cache = plan.__dict__.get("_csr")
    if cache is not None:
        return cache
    n_q = plan.q_idx.numel()
    hit = torch.zeros(n_q + 1, dtype=torch.bool)
    hit[plan.inv.cpu()] = True
    q_idx, k_idx = plan.q_idx.cpu(), plan.k_idx.cpu()
    qn, kn, qt, kt = [], [], [], []
    for bk in plan.buckets:
        q_ok = hit[bk.q_off:bk.q_off + bk.G * bk.Q].view(bk.G, bk.Q)
        k_ok = (torch.ones(bk.G, bk.K, dtype=torch.bool) if bk.k_mask is None
                else bk.k_mask.cpu().reshape(bk.G, bk.K))
        qn.append(q_ok.sum(1))
        kn.append(k_ok.sum(1))
        qt.append(q_idx[bk.q_off:bk.q_off + bk.G * bk.Q][q_ok.flatten()])
        kt.append(k_idx[bk.k_off:bk.k_off + bk.G * bk.K][k_ok.flatten()])
    cat = lambda xs: torch.cat(xs) if xs else torch.zeros(0, dtype=torch.long)  # noqa: E731
    ptr = lambda n: torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(cat(n), 0)])  # noqa: E731
    res = tuple(a.numpy().astype(np.int64) for a in (ptr(qn), cat(qt), ptr(kn), cat(kt)))
    plan.__dict__["_csr"] = res
    return res


_NUMBA_LOCK = threading.Lock()  # numba's workqueue thread pool takes one parallel call at a time


def _numba_threads():
    """numba's threads follow torch's intra-op thread count (``torch.set_num_threads``)."""
    _numba.set_num_threads(max(1, min(torch.get_num_threads(), _numba.config.NUMBA_NUM_THREADS)))


def _attend_forward_numba(q_hm, k_hm, v_hm, plan):
    """:func:`_attend_forward` by the numba loops: (H*T, hd) output, no padding, no gathers."""
    H, T1, hd = q_hm.shape
    T = T1 - 1
    out = q_hm.new_zeros(H, T, hd)
    lse = q_hm.new_empty(H, T)
    lists = _group_lists(plan)
    with _NUMBA_LOCK:
        _numba_threads()
        _attn_numba.attend_forward(q_hm.numpy(), k_hm.numpy(), v_hm.numpy(), *lists, out.numpy(), lse.numpy())
    return out.view(H * T, hd), ("numba", q_hm, k_hm, v_hm, out, lse)


def _attend_backward_numba(gy_hm, plan, saved):
    """:func:`_attend_backward` by the numba loops."""
    _, q_hm, k_hm, v_hm, out, lse = saved
    H, T1, hd = gy_hm.shape
    gq = gy_hm.new_zeros(H, T1 - 1, hd)
    gk, gv = gy_hm.new_zeros(H, T1, hd), gy_hm.new_zeros(H, T1, hd)
    lists = _group_lists(plan)
    with _NUMBA_LOCK:
        _numba_threads()
        _attn_numba.attend_backward(q_hm.numpy(), k_hm.numpy(), v_hm.numpy(), out.numpy(), lse.numpy(),
                                    gy_hm.numpy(), *lists, gq.numpy(), gk.numpy(), gv.numpy())
    return gq, gk, gv


def _head_major(t: torch.Tensor, T: int, H: int, hd: int) -> torch.Tensor:
    """A new (H, T+1, hd) buffer (dtype and device of ``t``) whose row T of every head is zero."""
    buf = t.new_empty(H, T + 1, hd)
    buf[:, T].zero_()
    return buf


def _attend_forward(q_hm, k_hm, v_hm, plan):
    """Grouped attention of normalised, pre-scaled queries over keys / values, all head-major
    (H, T+1, hd) with a zero row T, under ``plan`` -> (H*T, hd) head-major output and what the
    backward needs. Per bucket: scores keys-first (H*G, K, Q), softmax over the keys, P V."""
    H, T1, hd = q_hm.shape
    q_rows, k_rows, out_rows = _head_major_index(plan, T1 - 1, H)
    qg = q_hm.view(-1, hd).index_select(0, q_rows)
    kg = k_hm.view(-1, hd).index_select(0, k_rows)
    vg = v_hm.view(-1, hd).index_select(0, k_rows)
    og = q_hm.new_empty(qg.shape[0] + 1, hd)
    og[-1].zero_()
    probs = []
    for bk in plan.buckets:
        G, Q, K = bk.G, bk.Q, bk.K
        rq, rk = slice(H * bk.q_off, H * (bk.q_off + G * Q)), slice(H * bk.k_off, H * (bk.k_off + G * K))
        qb, kb, vb = qg[rq].view(H * G, Q, hd), kg[rk].view(H * G, K, hd), vg[rk].view(H * G, K, hd)
        st = torch.bmm(kb, qb.transpose(1, 2))  # (HG, K, Q) scores, keys first
        if bk.k_mask is not None:  # padded key slots
            st.view(H, G, K, Q).masked_fill_(~bk.k_mask.view(1, G, K, 1), float("-inf"))
        st.sub_(st.amax(1, keepdim=True)).exp_()
        pt = st.div_(st.sum(1, keepdim=True))  # P^T
        torch.bmm(pt.transpose(1, 2), vb, out=og[rq].view(H * G, Q, hd))
        probs.append(pt)
    return og.index_select(0, out_rows), ("bmm", qg, kg, vg, og, probs)


def _attend_backward(gy_hm, plan, saved):
    """Gradients of :func:`_attend_forward` for the head-major output gradient ``gy_hm`` (H, T+1, hd)
    (zero row T): head-major gradients of the queries (H, T, hd), keys and values (H, T+1, hd)."""
    H, T1, hd = gy_hm.shape
    q_rows, k_rows, out_rows = _head_major_index(plan, T1 - 1, H)
    _, qg, kg, vg, og, probs = saved
    go = gy_hm.view(-1, hd).index_select(0, q_rows)  # padded query slots read the zero row
    gq = go.new_empty(go.shape[0] + 1, hd)
    gq[-1].zero_()
    gk, gv = torch.empty_like(kg), torch.empty_like(vg)
    for bk, pt in zip(plan.buckets, probs):
        G, Q, K = bk.G, bk.Q, bk.K
        rq, rk = slice(H * bk.q_off, H * (bk.q_off + G * Q)), slice(H * bk.k_off, H * (bk.k_off + G * K))
        qb, kb, vb = qg[rq].view(H * G, Q, hd), kg[rk].view(H * G, K, hd), vg[rk].view(H * G, K, hd)
        gob, ob = go[rq].view(H * G, Q, hd), og[rq].view(H * G, Q, hd)
        gpt = torch.bmm(vb, gob.transpose(1, 2))  # dP^T (HG, K, Q)
        delta = (gob * ob).sum(-1).unsqueeze(1)  # (HG, 1, Q) = rowsum(dP * P)
        gst = gpt.sub_(delta).mul_(pt)  # dS^T
        torch.bmm(gst.transpose(1, 2), kb, out=gq[rq].view(H * G, Q, hd))
        torch.bmm(gst, qb, out=gk[rk].view(H * G, K, hd))
        torch.bmm(pt, gob, out=gv[rk].view(H * G, K, hd))
    gq_hm = gq.index_select(0, out_rows)  # each (head, token) has one query slot (or none)
    gk_hm = gy_hm.new_zeros(H * T1, hd).index_add_(0, k_rows, gk)
    gv_hm = gy_hm.new_zeros(H * T1, hd).index_add_(0, k_rows, gv)
    return gq_hm.view(H, T1 - 1, hd), gk_hm.view(H, T1, hd), gv_hm.view(H, T1, hd)


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
        q, k, v = (z[:, i * d:(i + 1) * d].view(T, H, hd) for i in range(3))
        q_hm, k_hm, v_hm = (_head_major(x, T, H, hd) for _ in range(3))
        tok = lambda buf: buf[:, :T].transpose(0, 1)  # noqa: E731  (T, H, hd) view of a head-major buffer
        if qk_w is not None and CORE == "numba":  # one pass over z for QK-norm and the layout
            qh, rq, rk = x.new_empty(T, H, hd), x.new_empty(T, H, 1), x.new_empty(T, H, 1)
            c = (qk_w[0, 0] * qk_w[1, 0] * scale).detach()
            with _NUMBA_LOCK:
                _numba_threads()
                _attn_numba.qk_norm_forward(z.numpy(), H, eps, c.numpy(), qh.numpy(), rq.view(T, H).numpy(),
                                            rk.view(T, H).numpy(), q_hm.numpy(), k_hm.numpy(), v_hm.numpy())
        elif qk_w is not None:
            rq, rk = _rstd(q, eps), _rstd(k, eps)
            qh = q * rq
            torch.mul(qh, qk_w[0, 0] * qk_w[1, 0] * scale, out=tok(q_hm))
            torch.mul(k, rk, out=tok(k_hm))
            tok(v_hm).copy_(v)
        else:
            rq = rk = qh = None
            torch.mul(q, scale, out=tok(q_hm))
            tok(k_hm).copy_(k)
            tok(v_hm).copy_(v)
        attend = _attend_forward_numba if CORE == "numba" else _attend_forward
        y_hm, att = attend(q_hm, k_hm, v_hm, plan)  # (H*T, hd)
        y = y_hm.view(H, T, hd).transpose(0, 1)  # (T, H, hd) view
        if w_gate is not None:  # gate 2 sigmoid(W_g h): the sigmoid here, the 2 in the output weight
            sg = torch.sigmoid(z[:, 3 * d:])
            yg = x.new_empty(T, d)
            torch.mul(y, sg.view(T, H, hd), out=yg.view(T, H, hd))
            w_out = w_proj * 2.0
        else:
            sg, yg, w_out = None, y.reshape(T, d), w_proj
        out = torch.addmm(x, yg, w_out.t())
        ctx.save_for_backward(xh, rstd, w_in, w_in_n, w_norm, w_out, qk_w, qh, rq, k_hm, rk, y_hm, sg, yg)
        ctx.att, ctx.plan, ctx.H, ctx.scale = att, plan, H, scale
        ctx.has_gate = w_gate is not None
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        xh, rstd, w_in, w_in_n, w_norm, w_out, qk_w, qh, rq, k_hm, rk, y_hm, sg, yg = ctx.saved_tensors
        T, d = xh.shape
        H, hd = ctx.H, d // ctx.H
        tok = lambda buf: buf[:, :T].transpose(0, 1)  # noqa: E731
        g_proj = torch.mm(g.t(), yg)  # (d, d)
        if ctx.has_gate:
            g_proj.mul_(2.0)
        gyg = torch.mm(g, w_out)  # (T, d)
        gz = xh.new_empty(T, w_in.shape[0])
        gy_hm = _head_major(xh, T, H, hd)
        if ctx.has_gate:  # yg = y s: dy = s gyg, d(gate logit) = y gyg s (1 - s)
            y = y_hm.view(H, T, hd).transpose(0, 1)
            t = torch.mul(gyg.view(T, H, hd), y).view(T, d)
            torch.ops.aten.sigmoid_backward.grad_input(t, sg, grad_input=gz[:, 3 * d:])
            torch.mul(gyg.view(T, H, hd), sg.view(T, H, hd), out=tok(gy_hm))
        else:
            tok(gy_hm).copy_(gyg.view(T, H, hd))
        back = _attend_backward_numba if ctx.att[0] == "numba" else _attend_backward
        gq_hm, gk_hm, gv_hm = back(gy_hm, ctx.plan, ctx.att)
        gq = gz[:, :d].view(T, H, hd)
        gk = gz[:, d:2 * d].view(T, H, hd)
        gqn = gq_hm.transpose(0, 1)  # (T, H, hd) view
        g_qk = None
        if qk_w is not None and ctx.att[0] == "numba":  # QK-norm backward and the layout in one pass
            c = qk_w[0, 0] * qk_w[1, 0] * ctx.scale
            gc_part = xh.new_empty((T + _attn_numba._CHUNK - 1) // _attn_numba._CHUNK, hd)
            with _NUMBA_LOCK:
                _numba_threads()
                _attn_numba.qk_norm_backward(gq_hm.contiguous().numpy(), gk_hm.numpy(), gv_hm.numpy(), qh.numpy(),
                                             rq.view(T, H).numpy(), k_hm.numpy(), rk.view(T, H).numpy(),
                                             c.detach().numpy(), gz.numpy(), gc_part.numpy())
            if ctx.needs_input_grad[5]:
                gc = gc_part.sum(0).mul_(ctx.scale)  # d loss / d (wq wk)
                g_qk = torch.stack([gc * qk_w[1, 0], gc * qk_w[0, 0]])[:, None, :]
        elif qk_w is not None:
            c = qk_w[0, 0] * qk_w[1, 0]
            if ctx.needs_input_grad[5]:
                gc = (gqn * qh).sum((0, 1)).mul_(ctx.scale)  # d loss / d (wq wk)
                g_qk = torch.stack([gc * qk_w[1, 0], gc * qk_w[0, 0]])[:, None, :]
            gqh = gqn * (c * ctx.scale)
            _rms_norm_backward(gqh, qh, rq, out=gq)
            _rms_norm_backward(tok(gk_hm), tok(k_hm), rk, out=gk)
            gz[:, 2 * d:3 * d].view(T, H, hd).copy_(tok(gv_hm))
        else:
            torch.mul(gqn, ctx.scale, out=gq)
            gk.copy_(tok(gk_hm))
            gz[:, 2 * d:3 * d].view(T, H, hd).copy_(tok(gv_hm))
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
    # the two halves of W1|W3 are separate (T, F) products: each under glibc's largest reusable
    # allocation (32 MB), where one (T, 2F) product is mapped and faulted in afresh at every call
    @staticmethod
    def forward(ctx, x, w_norm, w13, w2, eps):
        F_ = w2.shape[1]
        rstd = _rstd(x, eps)
        xh = x * rstd
        w13_n = w13 * w_norm
        a = torch.mm(xh, w13_n[:F_].t())  # (T, F)
        gt = torch.mm(xh, w13_n[F_:].t())
        s = torch.nn.functional.silu(a)
        h = s * gt
        out = torch.addmm(x, h, w2.t())
        ctx.save_for_backward(xh, rstd, w13, w13_n, w_norm, w2, a, gt, s, h)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        xh, rstd, w13, w13_n, w_norm, w2, a, gt, s, h = ctx.saved_tensors
        F_ = w2.shape[1]
        g_w2 = torch.mm(g.t(), h)  # (d, F)
        gh = torch.mm(g, w2)  # (T, F)
        gg = gh * s
        ga = torch.ops.aten.silu_backward.grad_input(gh.mul_(gt), a, grad_input=gh)
        g13_n = w13.new_empty(w13.shape)
        torch.mm(ga.t(), xh, out=g13_n[:F_])
        torch.mm(gg.t(), xh, out=g13_n[F_:])
        gxh = torch.mm(ga, w13_n[:F_]).addmm_(gg, w13_n[F_:])
        g13 = g13_n * w_norm
        g_norm = (g13_n * w13).sum(0)
        gx = _rms_norm_backward(gxh, xh, rstd).add_(g)
        return gx, g_norm, g13, g_w2, None


def ffn_sublayer(x, w_norm, w13, w2, eps: float):
    """``x + SwiGLU(rms_norm(x) * w_norm)``."""
    return _FFNSublayer.apply(x, w_norm, w13, w2, eps)
