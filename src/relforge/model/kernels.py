"""CPU kernels of the model with hand-written autograd: a oneDNN linear map and RMSNorm.

Same math as ``F.linear`` / ``F.rms_norm``; faster float32 CPU training (see each docstring).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

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
            gw = torch.mm(g.t(), x)  # g.T @ x, transposed operand read in place (oneDNN would copy it)
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
