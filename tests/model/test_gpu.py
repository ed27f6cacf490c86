"""CUDA-only checks of the flex-attention path (skipped on CPU)."""
import pytest
import torch

from relforge.model.config import preset
from relforge.model.rt import AttentionContext, RelationalTransformer
from relforge.model.testing import synthetic_batch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


def test_flex_equals_dense_forward_and_backward_on_cuda():
    dev = torch.device("cuda")
    b = {k: (v.to(dev) if torch.is_tensor(v) else v)
         for k, v in synthetic_batch(2, 256, seed=2, d_text=32, pad_frac=0.1).items()}
    torch.manual_seed(0)
    m = RelationalTransformer(preset("tiny", d_text=32)).to(dev)
    res = {}
    for impl in ("dense", "flex", "sparse"):
        m.zero_grad(set_to_none=True)
        out, loss = m(b, AttentionContext(b, impl, 4))
        loss.backward()
        res[impl] = (out.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None})
    real = ~b["is_padding"]
    for impl in ("flex", "sparse"):
        assert torch.allclose(res[impl][0][real], res["dense"][0][real], atol=1e-4), impl
        for n, g in res["dense"][1].items():
            assert torch.allclose(res[impl][1][n], g, atol=1e-4, rtol=1e-3), (impl, n)


def test_gated_attention_flex_equals_dense_on_cuda():
    """The RT-1.10 attention gate (``attn_gate``, on in the paper preset) under flex attention."""
    dev = torch.device("cuda")
    b = {k: (v.to(dev) if torch.is_tensor(v) else v)
         for k, v in synthetic_batch(2, 256, seed=5, d_text=32, pad_frac=0.1).items()}
    torch.manual_seed(0)
    m = RelationalTransformer(preset("tiny", d_text=32, attn_gate=True)).to(dev)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("gate.weight"):
                p.normal_(0, 0.3)  # a trained gate, not the neutral initial one
    res = {}
    for impl in ("dense", "flex"):
        m.zero_grad(set_to_none=True)
        out, loss = m(b, AttentionContext(b, impl, 4))
        loss.backward()
        res[impl] = (out.detach(), {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None})
    real = ~b["is_padding"]
    assert torch.allclose(res["flex"][0][real], res["dense"][0][real], atol=1e-4)
    assert any(n.endswith("gate.weight") for n in res["flex"][1])
    for n, g in res["dense"][1].items():
        assert torch.allclose(res["flex"][1][n], g, atol=1e-4, rtol=1e-3), n
