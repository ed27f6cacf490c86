"""DDP on CPU: two gloo processes under torchrun train a few steps (slow: process start-up)."""
import shutil
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow


def test_torchrun_two_cpu_ranks(tmp_path):
    torchrun = shutil.which("torchrun") or str(__import__("pathlib").Path(sys.executable).parent / "torchrun")
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import sys
        from relforge.model.testing import SyntheticSource
        from relforge.train.config import TrainConfig
        from relforge.train.loop import train
        cfg = TrainConfig(preset="tiny", steps=3, log_every=1, ckpt_every=3, eval_every=0, progress=False, threads=1)
        train(cfg, SyntheticSource(4, batch_size=2, seq_len=64, d_text=16), sys.argv[1], d_text=16, quiet=True)
    """))
    out = tmp_path / "out"
    p = subprocess.run([torchrun, "--nproc_per_node", "2", str(script), str(out)], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    assert (out / "model.safetensors").exists()
    assert len([x for x in (out / "metrics.jsonl").read_text().splitlines() if '"train"' in x]) == 3
