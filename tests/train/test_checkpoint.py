import pytest
import torch

from relforge.errors import RelforgeError
from relforge.model.config import preset
from relforge.model.rt import RelationalTransformer
from relforge.train import checkpoint as ckpt


def test_weights_roundtrip_and_metadata(tmp_path):
    torch.manual_seed(0)
    m = RelationalTransformer(preset("tiny", d_text=16))
    f = ckpt.save_weights(tmp_path / "w.safetensors", m, step=7)
    cfg, meta = ckpt.read_config(f)
    assert cfg == m.config and meta["step"] == "7"
    m2 = ckpt.load_weights(f)
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_size_mismatch_is_one_clear_line(tmp_path):
    f = ckpt.save_weights(tmp_path / "w.safetensors", RelationalTransformer(preset("tiny", d_text=16)))
    other = RelationalTransformer(preset("tiny", d_text=16, d_model=32, d_ff=64))
    with pytest.raises(RelforgeError, match=r"different model size \(d_model 64 vs 32, d_ff 128 vs 64") as e:
        ckpt.load_weights(f, other)
    assert "\n" not in str(e.value)
    with pytest.raises(RelforgeError, match="qk_norm True vs False"):
        ckpt.load_weights(f, RelationalTransformer(preset("tiny", d_text=16, qk_norm=False)))


def test_bad_paths_and_files(tmp_path):
    with pytest.raises(RelforgeError, match="no checkpoint"):
        ckpt.load_weights(tmp_path / "missing")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(RelforgeError, match="cannot read checkpoint"):
        ckpt.read_config(bad)
    with pytest.raises(RelforgeError, match="no trainer state"):
        ckpt.load_state(tmp_path)
