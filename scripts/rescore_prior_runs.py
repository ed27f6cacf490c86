"""Score finished prior-benchmark runs again on the current real stores, without retraining.

A change to how real databases are tokenized (a new cell, a fixed column type) changes what the
zero-shot contexts hold but not the pretrained weights. This script loads each run's weights, rebuilds
the benchmark's settings from the run's recorded key (its config and contender), tokenizes the real
databases with the current code into ``--cache`` when needed, and scores the 7 real forecast tasks
exactly as ``bench/prior.py`` does. One JSON line per run (``contender``, ``seed``, ``tasks``,
``mean``), then one with the per-task means.

    python scripts/rescore_prior_runs.py --cache out/prior_bench/real out/prior_bench/runs/relforge-default-s0-*
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders (WORK/runs/<contender>-s<seed>[-hash])")
    ap.add_argument("--cache", required=True, help="the real-store cache (tokenized here if the code changed)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    from relforge.experiments.prior import (CONTENDERS, RUN_RESULT, PriorBenchConfig, contender_config, evaluate_real,
                                            real_stores)
    from relforge.model import checkpoint

    torch.set_num_threads(a.threads)
    rows = []
    for run in a.runs:
        rec = json.loads((Path(run) / RUN_RESULT).read_text())
        key = rec["key"]
        cfg = PriorBenchConfig.from_dict(key["cfg"]).replace(contenders=tuple(CONTENDERS), reference=key["contender"])
        cfg = contender_config(cfg, key["contender"])
        t0 = time.perf_counter()
        real = real_stores(cfg, Path(a.cache), log=lambda m: None)
        model = checkpoint.load(Path(run) / "model.safetensors").model
        tasks = {k: round(100 * v["value"], 1) for k, v in evaluate_real(model, real, cfg).items()}
        row = dict(run=Path(run).name, contender=key["contender"], seed=key["seed"], tasks=tasks,
                   mean=round(sum(tasks.values()) / len(tasks), 2), before=round(
                       100 * sum(v["value"] for v in rec["result"]["tasks"].values()) / len(tasks), 2),
                   secs=round(time.perf_counter() - t0, 1))
        rows.append(row)
        print(json.dumps(row), flush=True)
    means = {t: round(sum(r["tasks"][t] for r in rows) / len(rows), 1) for t in rows[0]["tasks"]}
    print(json.dumps(dict(runs=len(rows), task_means=means)))


if __name__ == "__main__":
    main()
