"""How much label history should a forecast context hold? Re-score finished prior-benchmark models.

For each finished run (``bench/prior.py``'s run folders) and each cap K, evaluate the model on
every real forecast task with contexts that hold only the entity's K most recent closed labels
(``SamplerConfig.history``; 0 = all of them up to half the context, the rule before context
version 3; -1 = none, what the rest of the context tells without labels), on the ``--split``
rows. Nothing is retrained. One JSON line per (run, K): the 7-task mean and each task's AUROC / R2
in percent. Choose K on ``val``; report ``test``.

    python scripts/history_cap.py --work out/prior_bench --cache out/prior_bench/real \\
        --contender relforge-default --seeds 0,1,2 --caps 0,3,5,7,10,20 --split val
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", required=True, help="the prior benchmark's work folder")
    ap.add_argument("--cache", required=True, help="its real-store cache")
    ap.add_argument("--contender", default="relforge-default")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--caps", default="0,3,5,10")
    ap.add_argument("--split", default="val", choices=("val", "test"))
    ap.add_argument("--draws", action="store_true", help="the runs of a --draws benchmark (their own run folders)")
    a = ap.parse_args()
    from relforge.errors import RelforgeError

    try:
        run(a)
    except RelforgeError as e:
        raise SystemExit(f"error: {e}")


def run(a) -> None:
    import torch

    from relforge.experiments.prior import PriorBenchConfig, evaluate_real, finished_model, real_stores

    torch.set_num_threads(1)
    cfg = PriorBenchConfig(draws=a.draws)
    real = real_stores(cfg, Path(a.cache), log=lambda m: None)
    for seed in (int(s) for s in a.seeds.split(",")):
        model = finished_model(a.work, a.contender, seed, cfg).model
        for cap in (int(k) for k in a.caps.split(",")):
            vals = {k: round(100 * r["value"], 1) for k, r in evaluate_real(model, real, cfg.replace(history=cap),
                                                                            a.split).items()}
            print(json.dumps(dict(contender=a.contender, seed=seed, split=a.split, history=cap,
                                  mean=round(float(np.mean(list(vals.values()))), 2), **vals)), flush=True)


if __name__ == "__main__":
    main()
