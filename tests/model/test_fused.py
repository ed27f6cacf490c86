"""The fused CPU sublayers (relforge.model.fused) against the plain modules they replace."""
import pytest
import torch

from relforge.model import fused
from relforge.model.attention import AttentionContext
from relforge.model.config import preset
from relforge.model.rt import RelationalTransformer
from relforge.model.testing import synthetic_batch
from relforge.train.masking import add_masks

D_TEXT = 16


def _perturbed(cfg):
    """A model whose every parameter is away from its initial value (gains != 1, gate != 0), so
    that each gradient term of the fused backward is exercised."""
    torch.manual_seed(0)
    m = RelationalTransformer(cfg)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
    return m


def _step(m, b, use_fused: bool, **kw):
    m.zero_grad(set_to_none=True)
    with (torch.enable_grad() if use_fused else fused.disabled()):
        out, loss = m(b, **kw)
        loss.backward()
    return out.detach(), loss.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("gate,qk_norm", [(True, True), (False, True), (True, False), (False, False)])
def test_fused_model_matches_plain_modules(gate, qk_norm, core):
    b = add_masks(synthetic_batch(3, 256, seed=11, d_text=D_TEXT, pad_frac=0.1), 0.3, 0, 0)
    m = _perturbed(preset("small", d_text=D_TEXT, n_blocks=2, attn_gate=gate, qk_norm=qk_norm, attention="sparse"))
    o_f, l_f, g_f = _step(m, b, True)
    o_p, l_p, g_p = _step(m, b, False)
    real = ~b["is_padding"]
    # fp32 rounding differs (other summation orders); relative to the outputs' scale
    assert torch.allclose(o_f[real], o_p[real], atol=2e-5 * float(o_p.abs().max()), rtol=1e-5)
    assert torch.allclose(l_f, l_p, atol=1e-6, rtol=1e-6)
    assert g_f.keys() == g_p.keys() and any("gate" in n for n in g_f) == gate
    for n in g_p:
        scale = float(g_p[n].abs().max()) + 1e-12
        assert float((g_f[n] - g_p[n]).abs().max()) <= 1e-4 * scale, n


def test_fused_training_step_matches_plain_with_many_targets():
    """The real training step (mask rate 0.3, targets_only): the pruned last FFN and the fused
    sublayers give the plain full forward's loss and gradients."""
    b = add_masks(synthetic_batch(2, 512, seed=3, d_text=D_TEXT), 0.3, 0, 1)
    m = _perturbed(preset("small", d_text=D_TEXT, n_blocks=2, attn_gate=True, attention="sparse"))
    _, l_t, g_t = _step(m, b, True, targets_only=True)
    _, l_p, g_p = _step(m, b, False)
    assert torch.allclose(l_t, l_p, atol=1e-6, rtol=1e-6)
    for n in g_p:
        scale = float(g_p[n].abs().max()) + 1e-12
        assert float((g_t[n] - g_p[n]).abs().max()) <= 1e-4 * scale, n


@pytest.fixture(params=["numba", "bmm"])
def core(request, monkeypatch):
    """Both grouped-attention cores of the fused sublayer: numba loops (default) and batched matmuls."""
    monkeypatch.setattr(fused, "CORE", request.param)
    return request.param


@pytest.mark.parametrize("kind", ["col", "feat", "nbr"])
def test_fused_attention_sublayer_matches_reference_math(kind, core):
    """One sublayer against a literal transcription of the math on dense masks (no shared code)."""
    b = synthetic_batch(2, 128, seed=4, d_text=D_TEXT, pad_frac=0.2)
    ctx = AttentionContext(b, "sparse", 2)
    T, d, H = ctx.n_tokens, 32, 2
    g = torch.Generator().manual_seed(5)
    x = torch.randn(T, d, generator=g, requires_grad=True)
    ws = [torch.rand(d, generator=g) + 0.5, torch.randn(3 * d, d, generator=g) / 6, torch.randn(d, d, generator=g) / 6,
          torch.randn(d, d, generator=g) / 6, torch.rand(2, 1, d // H, generator=g) + 0.5]
    ws = [w.requires_grad_() for w in ws]
    up = torch.randn(T, d, generator=g)
    fused.attention_sublayer(x, *ws, ctx.plans[kind], H, 1e-6).backward(up)
    got = [t.grad.clone() for t in [x, *ws]]
    for t in [x, *ws]:
        t.grad = None
    # reference: rms-norm, projections, per-head rms-norm of q and k, masked softmax attention over
    # the dense mask of the real tokens (rows without keys give 0), gate 2 sigmoid, output projection
    w_n, w_qkv, w_g, w_p, qk = ws
    mask = __import__("relforge.model.attention", fromlist=["attention_masks"]).attention_masks(b)[kind]
    mask = mask.reshape(-1, mask.shape[-1])
    S = b["node_idx"].shape[1]
    sel = ctx.sel
    m = torch.zeros(T, T, dtype=torch.bool)
    seq = sel // S
    same_seq = seq[:, None] == seq[None, :]
    m[same_seq] = mask[sel][:, sel % S][same_seq]
    h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w_n
    q, k, v = (h @ w_qkv.t()).view(T, 3, H, d // H).unbind(1)
    rn = lambda t, w: t * torch.rsqrt(t.pow(2).mean(-1, keepdim=True) + 1e-6) * w  # noqa: E731
    q, k = rn(q, qk[0, 0]), rn(k, qk[1, 0])
    s = torch.einsum("qhd,khd->hqk", q, k) / (d // H) ** 0.5
    p = torch.softmax(s.masked_fill(~m, float("-inf")), -1).nan_to_num(0.0)
    y = torch.einsum("hqk,khd->qhd", p, v).reshape(T, d)
    ref = x + (y * 2 * torch.sigmoid(h @ w_g.t())) @ w_p.t()
    ref.backward(up)
    want = [t.grad for t in [x, *ws]]
    for a, w_ in zip(got, want):
        assert torch.allclose(a, w_, atol=1e-4, rtol=1e-4)


def test_fused_path_is_used_and_can_be_disabled():
    b = synthetic_batch(1, 64, seed=0, d_text=D_TEXT)
    m = RelationalTransformer(preset("tiny", d_text=D_TEXT, attention="sparse"))
    calls = []
    orig = fused.attention_sublayer
    fused.attention_sublayer = lambda *a, **k: calls.append(1) or orig(*a, **k)
    try:
        m(b)
        n_fused = len(calls)
        with fused.disabled():
            m(b)
    finally:
        fused.attention_sublayer = orig
    assert n_fused == 3 * len(m.blocks) and len(calls) == n_fused
    assert not fused.enabled(torch.zeros(2, 2, dtype=torch.float64))


def test_numba_core_is_the_default_and_threads_follow_torch():
    assert fused.CORE == "numba"
    import numba

    b = synthetic_batch(1, 64, seed=0, d_text=D_TEXT)
    m = RelationalTransformer(preset("tiny", d_text=D_TEXT, attention="sparse"))
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        m(b)
        assert numba.get_num_threads() == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(n)
