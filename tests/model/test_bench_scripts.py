"""The prepared GPU benchmark script runs end to end on CPU in --dry-run mode."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_model_dry_run_prints_one_json_line():
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_model.py"), "--dry-run"], capture_output=True,
                       text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0, rec
    assert rec["status"] == "ok" and rec["tokens_per_s"] > 0
    assert rec["check"]["max_abs_diff"] < 1e-4 and rec["check"]["finite"]
