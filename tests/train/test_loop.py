import json

import pytest

from relforge.errors import RelforgeError
from relforge.model.testing import SyntheticSource
from relforge.train.config import TrainConfig
from relforge.train.data import EvalTask
from relforge.train.loop import train

D = 16
KW = dict(batch_size=2, seq_len=96, d_text=D)


def cfg(**kw):
    base = dict(preset="tiny", steps=6, lr=3e-3, log_every=1, ckpt_every=3, eval_every=3, eval_batches=1,
                progress=False)
    return TrainConfig(**{**base, **kw})


def evals():
    return [EvalTask("synth/a", "val", "regression", SyntheticSource(2, seed=99, target_sem=0, **KW)),
            EvalTask("synth/b", "val", "binary_classification", SyntheticSource(2, seed=98, target_sem=3, **KW))]


def train_lines(out):
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if '"train"' in x]


class Interrupt(Exception):
    pass


class Flaky(SyntheticSource):
    """Raises when asked for the batch of step ``fail_at`` (simulates a crash after a checkpoint)."""

    def __init__(self, fail_at, **kw):
        super().__init__(4, **kw)
        self.fail_at = fail_at

    def batch(self, b, epoch=0):
        if epoch * self.num_batches + b == self.fail_at:
            raise Interrupt()
        return super().batch(b, epoch)


def test_train_logs_evaluates_and_resumes_exactly(tmp_path):
    full = tmp_path / "full"
    s = train(cfg(), SyntheticSource(4, **KW), full, eval_tasks=evals(), d_text=D, quiet=True)
    assert (full / "model.safetensors").exists() and (full / "ckpt" / "state.pt").exists()
    lines = train_lines(full)
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6]
    best = json.loads((full / "best.json").read_text())
    assert set(best) == {"synth/a", "synth/b"}
    assert {b["metric"] for b in best.values()} <= {"r2", "roc_auc", "loss"}
    assert (full / "best" / "synth__a.safetensors").exists()
    assert s["last_eval"] and s["first_eval"][0]["step"] == 0

    part = tmp_path / "part"
    with pytest.raises(Interrupt):
        train(cfg(), Flaky(4, **KW), part, d_text=D, quiet=True)
    assert [r["step"] for r in train_lines(part)] == [1, 2, 3, 4]  # step 4 logged, not checkpointed
    train(cfg(), SyntheticSource(4, **KW), part, d_text=D, quiet=True, resume=True)
    resumed = train_lines(part)
    assert [r["step"] for r in resumed] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in resumed] == [r["loss"] for r in lines]  # bit-identical continuation


def test_init_from_and_guards(tmp_path):
    a = tmp_path / "a"
    train(cfg(steps=2, eval_every=0), SyntheticSource(2, **KW), a, d_text=D, quiet=True)
    b = tmp_path / "b"
    train(cfg(steps=2, eval_every=0), SyntheticSource(2, **KW), b, d_text=D, quiet=True,
          init_from=a / "model.safetensors")
    with pytest.raises(RelforgeError, match="not empty"):
        train(cfg(steps=2), SyntheticSource(2, **KW), b, d_text=D, quiet=True)
    with pytest.raises(RelforgeError, match="d_text"):
        train(cfg(steps=2), SyntheticSource(2, **KW), tmp_path / "c", d_text=D + 1, quiet=True,
              init_from=a / "model.safetensors")
    with pytest.raises(RelforgeError, match="different model size"):
        from relforge.model.config import preset
        from relforge.model.rt import RelationalTransformer
        from relforge.model.checkpoint import load
        load(a / "model.safetensors", into=RelationalTransformer(preset("small", d_text=D)))


def test_dataloader_workers_give_the_same_run(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    train(cfg(steps=3, eval_every=0), SyntheticSource(2, **KW), a, d_text=D, quiet=True)
    train(cfg(steps=3, eval_every=0, num_workers=1), SyntheticSource(2, **KW), b, d_text=D, quiet=True)
    assert [r["loss"] for r in train_lines(a)] == [r["loss"] for r in train_lines(b)]


def test_weights_record_how_contexts_were_built(tmp_path):
    from relforge.model.checkpoint import ContextSettings, read

    out = tmp_path / "run"
    train(cfg(steps=2, peers=5, ctx_len=96, max_bfs_width=7, mask_rate=0.2, name_shuffle=0.5, tasks=("t",)),
          SyntheticSource(2, **KW), out, eval_tasks=evals(), d_text=D, quiet=True, embedder={"name": "hash:8", "dim": 8})
    for w in [out / "model.safetensors", out / "ckpt", *sorted((out / "best").glob("*.safetensors"))]:
        rec = read(w)
        assert rec.context == ContextSettings(96, 7, 5, 0.2, 0.5), w
        assert rec.embedder == {"name": "hash:8", "dim": 8} and rec.tasks == ("t",), w
    with pytest.raises(RelforgeError, match="peers"):
        cfg(peers=-2)


def test_evaluation_builds_the_contexts_the_weights_were_trained_on(tmp_path, monkeypatch):
    """`relforge evaluate` on a best-checkpoint file (no train_config.json beside it) reads the
    context settings from the weights themselves, the forecast label history rules included."""
    from relforge.train import data
    from relforge.train.loop import evaluate_path

    out = tmp_path / "run"
    train(cfg(steps=2, peers=5, ctx_len=96, max_bfs_width=7, history=2, own_history=True), SyntheticSource(2, **KW), out,
          eval_tasks=evals(), d_text=D, quiet=True)
    seen = {}
    monkeypatch.setattr(data, "d_text_of", lambda path: D)
    monkeypatch.setattr(data, "embedder_of", lambda path: None)
    monkeypatch.setattr(data, "eval_tasks", lambda path, context, **kw: seen.update(context.sampler_kw()) or [])
    for w in [out, *sorted((out / "best").glob("*.safetensors"))]:
        seen.clear()
        with pytest.raises(RelforgeError, match="no task"):
            evaluate_path(w, tmp_path)
        assert (seen["ctx_len"], seen["max_bfs_width"], seen["peers"], seen["history"], seen["own_history"]) == (96, 7, 5, 2, True), w


def test_a_checkpoint_config_keeps_the_behaviour_it_was_trained_with():
    old = cfg().to_dict()
    del old["peers"], old["mask_rate"], old["name_shuffle"]  # a checkpoint written before these options existed
    c = TrainConfig.from_saved(old)
    assert (c.peers, c.mask_rate, c.name_shuffle) == (0, 0.0, 0.0)
    assert TrainConfig.from_dict(old).peers == TrainConfig().peers  # a user's partial config takes the defaults


def test_decay_all_false_leaves_norm_gains_and_biases_out_of_weight_decay(tmp_path):
    """``decay_all`` reaches the optimizer: under an enormous weight decay the output norm's gains of a
    decayed run fall far below their initial 1, those of a ``decay_all=False`` run move by their
    gradients only; weight matrices decay in both. The run records the option."""
    from relforge.model import checkpoint

    got = {}
    for decay_all in (True, False):
        out = tmp_path / str(decay_all)
        train(cfg(steps=10, eval_every=0, weight_decay=50.0, decay_all=decay_all), SyntheticSource(2, **KW), out,
              d_text=D, quiet=True)
        m = checkpoint.load(out / "model.safetensors").model
        got[decay_all] = (float(m.norm_out.weight.detach().mean()), float(m.blocks[0].ffn.w2.weight.detach().abs().mean()))
        assert json.loads((out / "train_config.json").read_text())["decay_all"] is decay_all
    # decoupled decay multiplies every decayed weight by (1 - lr * wd) per step: gains fall well below 1
    assert got[True][0] < 0.9 < got[False][0]
    assert got[False][1] < 0.02 and got[True][1] < 0.02  # the matrices decay either way (init std 0.02)


def test_copy_skip_is_trained_recorded_and_switched_on_by_fine_tuning(tmp_path):
    """A run with ``copy_skip`` saves a model that predicts with it; fine-tuning a model trained
    without it can switch it on (it has no weights), and fine-tuning without the flag keeps a
    skip-trained model's skip (the default config never switches it off)."""
    from relforge.model.checkpoint import load

    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    train(cfg(steps=2, eval_every=0), SyntheticSource(2, **KW), a, d_text=D, quiet=True)
    assert not load(a / "model.safetensors").model.config.copy_skip
    train(cfg(steps=2, eval_every=0, copy_skip=True), SyntheticSource(2, **KW), b, d_text=D, quiet=True,
          init_from=a / "model.safetensors")
    assert load(b / "model.safetensors").model.config.copy_skip
    train(cfg(steps=2, eval_every=0), SyntheticSource(2, **KW), c, d_text=D, quiet=True, init_from=b / "model.safetensors")
    assert load(c / "model.safetensors").model.config.copy_skip
    d = tmp_path / "d"
    train(cfg(steps=2, eval_every=0, copy_skip=True), SyntheticSource(2, **KW), d, d_text=D, quiet=True)
    assert json.loads((d / "model_config.json").read_text())["copy_skip"] is True
