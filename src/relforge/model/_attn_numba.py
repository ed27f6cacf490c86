"""Grouped softmax attention as numba loops (float32, CPU): the core of ``relforge.model.fused``.

The sparse engine's groups are small (a column's cells, a row's cells, the cells of a row's parents
or children: a few to a few hundred tokens). As batched matmuls they need padded, gathered copies
of every group's queries, keys and values and a scatter of the gradients back; these loops read the
head-major (H, T, hd) tensors in place through each group's token lists and compute nothing for
padding. Forward: scores, softmax and P V per (head, group), keeping each query's log-sum-exp;
backward: the probabilities recomputed from it (FlashAttention's recipe) and the gradients
accumulated per head (heads run in parallel; within a head the order is fixed, so results do not
depend on the thread count).
"""
from __future__ import annotations

import math

import numpy as np
import numba
from numba import njit, prange

if numba.config.THREADING_LAYER == "default":  # numba's own thread pool: OpenMP's would retune torch's
    numba.config.THREADING_LAYER = "workqueue"


@njit(parallel=True, fastmath=True, cache=True)
def attend_forward(q, k, v, qptr, qtok, kptr, ktok, out, lse):  # pragma: no cover (compiled)
    """out[h, t] = softmax_j(q[h, t] . k[h, key j]) v[h, key j] over the keys of t's group;
    lse[h, t] the log-sum-exp of t's scores. ``out`` must start at 0 (tokens without keys keep it)."""
    H, hd = q.shape[0], q.shape[2]
    n_g = qptr.shape[0] - 1
    max_k = 0
    for g in range(n_g):
        max_k = max(max_k, kptr[g + 1] - kptr[g])
    for idx in prange(H * n_g):
        h = idx // n_g
        g = idx - h * n_g
        k0, nk = kptr[g], kptr[g + 1] - kptr[g]
        if nk == 0:
            continue
        s = np.empty(max_k, np.float32)
        for qi in range(qptr[g], qptr[g + 1]):
            t = qtok[qi]
            m = np.float32(-np.inf)
            for j in range(nk):
                kt = ktok[k0 + j]
                acc = np.float32(0.0)
                for d in range(hd):
                    acc += q[h, t, d] * k[h, kt, d]
                s[j] = acc
                if acc > m:
                    m = acc
            tot = np.float32(0.0)
            for j in range(nk):
                e = np.float32(math.exp(s[j] - m))
                s[j] = e
                tot += e
            inv = np.float32(1.0) / tot
            for j in range(nk):
                kt = ktok[k0 + j]
                p = s[j] * inv
                for d in range(hd):
                    out[h, t, d] += p * v[h, kt, d]
            lse[h, t] = m + np.float32(math.log(tot))


@njit(parallel=True, fastmath=True, cache=True)
def attend_backward(q, k, v, out, lse, gout, qptr, qtok, kptr, ktok, gq, gk, gv):  # pragma: no cover
    """Gradients of :func:`attend_forward` for ``gout``, accumulated into zero-filled ``gq``, ``gk``,
    ``gv`` (same shapes as q, k, v): dS = P (dP - rowsum(dO O)), dq = dS k, dk = dS^T q, dv = P^T dO."""
    H, hd = q.shape[0], q.shape[2]
    n_g = qptr.shape[0] - 1
    for h in prange(H):
        for g in range(n_g):
            k0, nk = kptr[g], kptr[g + 1] - kptr[g]
            for qi in range(qptr[g], qptr[g + 1]):
                t = qtok[qi]
                delta = np.float32(0.0)
                for d in range(hd):
                    delta += gout[h, t, d] * out[h, t, d]
                lt = lse[h, t]
                for j in range(nk):
                    kt = ktok[k0 + j]
                    sc = np.float32(0.0)
                    dp = np.float32(0.0)
                    for d in range(hd):
                        sc += q[h, t, d] * k[h, kt, d]
                        dp += gout[h, t, d] * v[h, kt, d]
                    p = np.float32(math.exp(sc - lt))
                    ds = p * (dp - delta)
                    for d in range(hd):
                        gq[h, t, d] += ds * k[h, kt, d]
                        gk[h, kt, d] += ds * q[h, t, d]
                        gv[h, kt, d] += p * gout[h, t, d]


_CHUNK = 64  # tokens per parallel work item of the elementwise kernels (fixed: results do not depend on threads)


@njit(parallel=True, fastmath=True, cache=True)
def qk_norm_forward(z, H, eps, c, qh, rq, rk, q_hm, k_hm, v_hm):  # pragma: no cover (compiled)
    """From z = [q | k | v | ...] (T, >= 3d): per-head rms of q and k (``rq``, ``rk`` (T, H): 1/rms),
    ``qh`` = q * rq (T, H, hd), and the head-major attention inputs q_hm = qh * c, k_hm = k * rk,
    v_hm = v ((H, T+1, hd), row T left alone)."""
    T = z.shape[0]
    hd = qh.shape[2]
    d = H * hd
    inv_hd = np.float32(1.0 / hd)
    for ch in prange((T + _CHUNK - 1) // _CHUNK):
        for t in range(ch * _CHUNK, min(T, (ch + 1) * _CHUNK)):
            for h in range(H):
                o = h * hd
                ss = np.float32(0.0)
                for e in range(hd):
                    x = z[t, o + e]
                    ss += x * x
                r = np.float32(1.0) / np.float32(math.sqrt(ss * inv_hd + eps))
                rq[t, h] = r
                for e in range(hd):
                    x = z[t, o + e] * r
                    qh[t, h, e] = x
                    q_hm[h, t, e] = x * c[e]
                ss = np.float32(0.0)
                for e in range(hd):
                    x = z[t, d + o + e]
                    ss += x * x
                r = np.float32(1.0) / np.float32(math.sqrt(ss * inv_hd + eps))
                rk[t, h] = r
                for e in range(hd):
                    k_hm[h, t, e] = z[t, d + o + e] * r
                    v_hm[h, t, e] = z[t, 2 * d + o + e]


@njit(parallel=True, fastmath=True, cache=True)
def qk_norm_backward(gq_hm, gk_hm, gv_hm, qh, rq, k_hm, rk, c, gz, gc_part):  # pragma: no cover (compiled)
    """Backward of :func:`qk_norm_forward`: writes dL/dz[:, :3d] into ``gz`` and, per chunk of tokens,
    sum over tokens and heads of dL/dq_hm * qh into ``gc_part`` (n_chunks, hd)."""
    H, T, hd = gq_hm.shape[0], qh.shape[0], qh.shape[2]
    d = H * hd
    inv_hd = np.float32(1.0 / hd)
    for ch in prange((T + _CHUNK - 1) // _CHUNK):
        for e in range(hd):
            gc_part[ch, e] = 0.0
        for t in range(ch * _CHUNK, min(T, (ch + 1) * _CHUNK)):
            for h in range(H):
                o = h * hd
                m = np.float32(0.0)
                for e in range(hd):
                    g = gq_hm[h, t, e]
                    x = qh[t, h, e]
                    gc_part[ch, e] += g * x
                    m += g * c[e] * x
                m *= inv_hd
                r = rq[t, h]
                for e in range(hd):
                    gz[t, o + e] = (gq_hm[h, t, e] * c[e] - qh[t, h, e] * m) * r
                m = np.float32(0.0)
                for e in range(hd):
                    m += gk_hm[h, t, e] * k_hm[h, t, e]
                m *= inv_hd
                r = rk[t, h]
                for e in range(hd):
                    gz[t, d + o + e] = (gk_hm[h, t, e] - k_hm[h, t, e] * m) * r
                    gz[t, 2 * d + o + e] = gv_hm[h, t, e]
