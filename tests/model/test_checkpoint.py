import json

import pytest
import torch

from relforge.errors import RelforgeError
from relforge.model import checkpoint as ckpt
from relforge.model.checkpoint import ContextSettings
from relforge.model.config import preset
from relforge.model.rt import RelationalTransformer


def test_weights_roundtrip_and_record(tmp_path):
    torch.manual_seed(0)
    m = RelationalTransformer(preset("tiny", d_text=16))
    ctx = ContextSettings(ctx_len=96, max_bfs_width=7, peers=5, mask_rate=0.3, name_shuffle=1.0)
    f = ckpt.save(tmp_path / "w.safetensors", m, step=7, context=ctx, embedder={"name": "hash:16", "dim": 16},
                  tasks=("a", "b"), info={"note": "x"})
    rec = ckpt.read(f)
    assert rec.config == m.config and rec.step == 7 and rec.context == ctx
    assert rec.embedder == {"name": "hash:16", "dim": 16} and rec.tasks == ("a", "b") and rec.info == {"note": "x"}
    m2 = ckpt.load(f).model
    assert not m2.training
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_size_mismatch_is_one_clear_line(tmp_path):
    f = ckpt.save(tmp_path / "w.safetensors", RelationalTransformer(preset("tiny", d_text=16)))
    other = RelationalTransformer(preset("tiny", d_text=16, d_model=32, d_ff=64))
    with pytest.raises(RelforgeError, match=r"different model size \(d_model 64 vs 32, d_ff 128 vs 64") as e:
        ckpt.load(f, into=other)
    assert "\n" not in str(e.value)
    with pytest.raises(RelforgeError, match="qk_norm True vs False"):
        ckpt.load(f, into=RelationalTransformer(preset("tiny", d_text=16, qk_norm=False)))
    with pytest.raises(RelforgeError, match="attn_gate False vs True"):
        ckpt.load(f, into=RelationalTransformer(preset("tiny", d_text=16, attn_gate=True)))


def test_bad_paths_and_files(tmp_path):
    with pytest.raises(RelforgeError, match="no checkpoint"):
        ckpt.load(tmp_path / "missing")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(RelforgeError, match="cannot read checkpoint"):
        ckpt.read(bad)
    with pytest.raises(RelforgeError, match="no trainer state"):
        ckpt.load_state(tmp_path)


def _legacy_file(path, model, extra: dict | None):
    """A weights file as older relforge versions wrote it (same format string, older record)."""
    from safetensors.torch import save_file

    meta = {"format": ckpt.FORMAT, "rt_config": json.dumps({k: v for k, v in model.config.to_dict().items()
                                                              if k != "attn_gate"}), "step": "3"}
    if extra is not None:
        meta["extra"] = json.dumps(extra)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata=meta)
    return path


def test_old_checkpoints_load_with_their_recorded_settings(tmp_path):
    m = RelationalTransformer(preset("tiny", d_text=16))
    # a model saved before context records (the packaged default model until 2026-12-04): ctx_len and
    # embedder in its record, nothing else (trained without peers/masks), no attn_gate in its config
    old = _legacy_file(tmp_path / "old.safetensors", m, {"ctx_len": 256, "data": "synthetic only",
                                                         "embedder": {"dim": 16, "name": "hash:16"}})
    rec = ckpt.read(old)
    assert rec.context == ContextSettings(ctx_len=256) and rec.embedder["name"] == "hash:16"
    assert rec.config.attn_gate is False and ckpt.load(old).model.config.attn_gate is False
    assert ckpt.read(None).config.attn_gate is False  # the packaged model too (tiny preset)
    # a pretrain run from before the record: settings from its train_config.json, LEGACY for newer options
    run = tmp_path / "run"
    run.mkdir()
    (run / "train_config.json").write_text(json.dumps({"ctx_len": 96, "max_bfs_width": 7}))
    _legacy_file(run / "model.safetensors", m, {})
    (run / "best").mkdir()
    _legacy_file(run / "best" / "t.safetensors", m, {"task": "s/t", "ctx_len": 96, "max_bfs_width": 7, "peers": 4})
    assert ckpt.read(run).context == ContextSettings(ctx_len=96, max_bfs_width=7, peers=0)
    assert ckpt.read(run / "best" / "t.safetensors").context == ContextSettings(ctx_len=96, max_bfs_width=7, peers=4)
    # a bare file with no record takes the one set of defaults
    bare = _legacy_file(tmp_path / "bare.safetensors", m, None)
    assert ckpt.read(bare).context == ContextSettings() and ckpt.read(bare).embedder is None
    loaded = ckpt.load(bare).model
    assert all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), loaded.state_dict().values()))
