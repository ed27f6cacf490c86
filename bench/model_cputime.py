#!/usr/bin/env python
"""The model comparison of ``bench/model.py`` in CPU seconds per step, one thread: robust to a loaded box.

``bench/model.py`` times wall seconds with 2 torch threads, which on a machine shared with other
jobs measures the scheduler as much as the model. This script runs the same two steps, on the same
kind of batch (each side's context sampler on the same plurel database and task, see
``bench/model.py``), with **one torch thread** and the **CPU time** of the step (``process_time``
around forward + backward + AdamW), alternating nothing but the clock: every process is alone with
its own thread, so its CPU seconds are its work.

- rt 1.10.0: the anchor script's own pieces (``rt_model_bench.real_batch``, ``build``, ``SdpaSwap``,
  imported from ``../shared/anchors`` in the anchor venv), float32, AdamW (lr 1e-4, wd 0.1).
- relforge: the ``real`` step of ``bench/model.py`` (``add_masks(--mask-rate)``, ``targets_only``),
  gated attention on when the option exists (matched architecture).

Output: JSON lines per side and config, then a summary with ``cpu_ratio`` per config = rt CPU s per
step / relforge CPU s per step (medians over ``--steps`` after ``--warmup``).

Usage: python bench/model_cputime.py [--models paper small] [--steps 3] [--src DIR] [--out FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _anchors as A  # noqa: E402


def rt_child(a) -> dict:
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(A.anchors_dir()))
    import rt_model_bench as R  # the anchor script's own helpers

    batch, source = R.real_batch(a.pre_dir, a.db_name, a.task, a.batch_size, a.ctx_len, a.width)
    times = []
    with R.SdpaSwap():
        m = R.build(a.model, torch.float32).train()
        b = R.cast_batch(batch, torch.float32)
        opt = torch.optim.AdamW(list(m.parameters()), lr=1e-4, weight_decay=0.1)
        for _ in range(a.warmup + a.steps):
            c0 = time.process_time()
            loss = m(b, return_embeddings=False)[0]
            loss.backward()
            opt.step()
            m.zero_grad(set_to_none=True)
            opt.zero_grad(set_to_none=True)
            times.append(time.process_time() - c0)
    return dict(impl="rt-1.10.0", model=a.model, params=sum(p.numel() for p in m.parameters()), batch=source,
                cpu_s_runs=[round(x, 3) for x in times[a.warmup:]], cpu_s=round(statistics.median(times[a.warmup:]), 3))


def relforge_child(a) -> dict:
    import torch

    torch.set_num_threads(1)
    from model import gate_field, sampler_batch, train_steps
    from relforge.model.config import preset
    from relforge.model.rt import RelationalTransformer

    batch, d_text = sampler_batch(a.store, a.rf_task, a.batch_size, a.ctx_len, a.width)
    over = {"d_text": d_text, "attention": "sparse"}
    gate = gate_field()
    if gate:
        over[gate] = not a.no_gate
    torch.manual_seed(0)
    m = RelationalTransformer(preset(a.model, **over))
    opt = m.configure_optimizers(lr=1e-4, weight_decay=0.1)
    times, _, _ = train_steps(m, opt, batch, a.mask_rate, True, a.warmup + a.steps, clock=time.process_time)
    return dict(impl="relforge", model=a.model, gate=bool(gate) and not a.no_gate, params=m.get_num_params(),
                cpu_s_runs=[round(x, 3) for x in times[a.warmup:]], cpu_s=round(statistics.median(times[a.warmup:]), 3))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["paper", "small"], choices=["paper", "small"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--ctx-len", type=int, default=1024)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--mask-rate", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dbs-dir", default=None)
    ap.add_argument("--src", default=None, help="relforge source tree to time (default: this repository's src/)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--timeout", type=float, default=1800)
    for k in ("_rt", "_relforge"):
        ap.add_argument(f"--{k}", default=None, help=argparse.SUPPRESS)
    for k in ("pre_dir", "db_name", "task", "store", "rf_task", "model"):
        ap.add_argument(f"--_{k}", dest=k, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_no-gate", dest="no_gate", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._rt:
        a.model = a._rt
        print(json.dumps(rt_child(a)), flush=True)
        return 0
    if a._relforge:
        a.model = a._relforge
        print(json.dumps(relforge_child(a)), flush=True)
        return 0

    import model as M

    a.no_anchor, a.task = False, None
    prep = M.prepare(a)
    env = M._env(a)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent) + os.pathsep + env["PYTHONPATH"]
    common = ["--steps", str(a.steps), "--warmup", str(a.warmup), "--batch-size", str(a.batch_size),
              "--ctx-len", str(a.ctx_len), "--width", str(a.width), "--mask-rate", str(a.mask_rate)]
    head = {"bench": "model_cputime", **A.machine(), "threads": 1, "db": Path(prep["db"]).name, "task": prep["task"],
            "gate_option": M.gate_field_of(a.src), "src": a.src or "src"}
    recs, summary = [], dict(head)
    for m in a.models:
        runs = [("rt", [str(A.anchor_python()), os.path.abspath(__file__), "--_rt", m, "--_pre_dir", prep["rt_pre"],
                        "--_db_name", prep["rt_db"], "--_task", prep["rt_task"]], None),
                ("relforge", [sys.executable, os.path.abspath(__file__), "--_relforge", m, "--_store", prep["store"],
                              "--_rf_task", prep["task"]], env)]
        if head["gate_option"]:
            runs.append(("relforge_gate_free", runs[1][1] + ["--_no-gate"], env))
        out = {}
        for name, cmd, e in runs:
            p = subprocess.run(cmd + common, capture_output=True, text=True, timeout=a.timeout, env=e,
                               cwd=str(A.anchors_dir()) if name == "rt" else None)
            lines = A.json_lines(p.stdout, '"cpu_s"')
            rec = lines[-1] if lines else {"impl": name, "model": m, "error": " | ".join(
                (p.stderr or p.stdout).strip().splitlines()[-3:])}
            rec["load"] = A.load_average()
            recs.append(rec)
            out[name] = rec
            print(json.dumps(rec), flush=True)
        s = {"rt_cpu_s": out["rt"].get("cpu_s"), "relforge_cpu_s": out["relforge"].get("cpu_s"),
             "cpu_ratio": A.rounded(A.ratio(out["rt"].get("cpu_s"), out["relforge"].get("cpu_s")), 3)}
        if "relforge_gate_free" in out:
            g = out["relforge_gate_free"].get("cpu_s")
            s.update(gate_free_cpu_s=g, gate_free_cpu_ratio=A.rounded(A.ratio(out["rt"].get("cpu_s"), g), 3))
        summary[m] = s
    summary["load_end"] = A.load_average()
    import shutil

    shutil.rmtree(prep["work"], ignore_errors=True)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({"records": recs, "summary": summary}, indent=1) + "\n")
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
