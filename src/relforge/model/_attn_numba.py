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
