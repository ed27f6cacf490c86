"""Diagnostic: the prior benchmark's RT trained on real tasks' own training splits (in-domain).

How far can the benchmark's model get on a real forecast task when it is trained on that very
task, not on synthetic data? Trains the tiny RT at the benchmark's context and optimizer settings
(``bench/prior.py``'s recipe) on the task's training rows for ``--steps`` steps (or ``--tokens``)
and scores the test split (R2 / Pearson r² or AUROC, percent). One JSON line.

``--task all`` trains one model on the training splits of all seven real forecast tasks together
and scores each: the best a synthetic prior could teach this model at this budget, since it is
the real tasks themselves (their training rows only: no autocomplete on the real tables, whose
later rows are the test period). ``--score`` scores other tasks than those trained on: trained on
two real databases' tasks and scored on the third's, a real prior from other domains, zero-shot.

    python scripts/indomain_ceiling.py --cache out/prior_bench/real --task f1/driver-position \\
        --steps 1500 --history 0 [--rel-time] [--recent 3]
    python scripts/indomain_ceiling.py --cache out/prior_bench/real --task all --tokens 24000000 --copy-skip --seed 0
    python scripts/indomain_ceiling.py --cache out/prior_bench/real --task all --except-db f1 --score f1 --tokens 24000000 --copy-skip
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", required=True, help="the prior benchmark's real-store cache")
    ap.add_argument("--task", default="f1/driver-position",
                    help="db/task, several comma-separated, or 'all' (the benchmark's seven): one model trained on all named")
    ap.add_argument("--except-db", default="", help="leave this database's tasks out of --task")
    ap.add_argument("--score", default="",
                    help="tasks scored, as --task, or a database name (its tasks); default: the tasks trained on")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--tokens", type=int, default=0, help="token budget instead of --steps (the benchmark's unit)")
    ap.add_argument("--copy-skip", action="store_true", help="the model's copy skip (bench/prior.py --copy-skip)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (weights and item order)")
    ap.add_argument("--rel-time", action="store_true", help="the model's row-age input")
    ap.add_argument("--no-history", action="store_true",
                    help="no label history: training contexts drop it (history_dropout 1), evaluation shows none; "
                         "what the entity's own rows tell")
    ap.add_argument("--recent", type=int, default=0,
                    help="training and evaluation contexts: the seed and its parents show their latest children first")
    ap.add_argument("--history", type=int, default=None,
                    help="label-history cap in training and evaluation contexts (default: the sampler's; "
                         "docs/results.md's figures: 0, all labels)")
    a = ap.parse_args()

    import torch

    from relforge.errors import RelforgeError
    from relforge.experiments.prior import (CEILING, PriorBenchConfig, _train_config, build_corpus_stores,
                                            evaluate_real, real_stores, run_sampler)
    from relforge.model import checkpoint
    from relforge.train.loop import train

    known = tuple(PriorBenchConfig().tasks)

    def task_keys(arg: str) -> tuple:
        names = [t.strip() for t in arg.split(",") if t.strip()]
        return tuple(k for k in known if arg == "all" or k in names or k.split("/")[0] in names)

    keys = tuple(k for k in task_keys(a.task) if k.split("/")[0] != a.except_db)
    scored = task_keys(a.score) if a.score else keys
    bad = [t for arg in (a.task, a.score, a.except_db) for t in arg.split(",") if t.strip() and t.strip() != "all"
           and not any(k == t.strip() or k.split("/")[0] == t.strip() for k in known)]
    if bad or not keys or not scored or a.steps < 1 or a.tokens < 0:
        raise SystemExit(f"error: unknown task(s) {bad} (known: {', '.join(known)}, a database name, or all)" if bad
                         else "error: no task left to train or score" if not keys or not scored
                         else "error: --steps must be at least 1 and --tokens at least 0")
    torch.set_num_threads(1)
    # no autocomplete suite: only the named forecast tasks' stores, and no training on the real tables' later rows
    cfg = PriorBenchConfig(tasks=keys, autocomplete=(), recent=a.recent, rel_time=a.rel_time, copy_skip=a.copy_skip,
                           threads=1, history_dropout=1.0 if a.no_history else 0.0)
    cfg = cfg.replace(tokens=a.tokens or a.steps * cfg.batch_size * cfg.ctx_len)
    if a.history is not None:
        cfg = cfg.replace(history=a.history)
    try:
        cfg.validate()
        if a.seed < 0:
            raise RelforgeError(f"--seed must be >= 0, got {a.seed}")
    except RelforgeError as e:
        raise SystemExit(f"error: {e}")
    real = real_stores(cfg.replace(tasks=tuple(k for k in known if k in keys or k in scored)), Path(a.cache),
                       log=lambda m: None)
    tc = _train_config(cfg, a.seed, None)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:  # the benchmark's real-tasks contender, on the named tasks
        folder, _ = build_corpus_stores(CEILING, cfg, Path(tmp), real=real)
        sampler = run_sampler(folder, cfg, CEILING, tc)
        train(tc, sampler, Path(tmp) / "run", d_text=sampler.d_text, overwrite=True, quiet=True)
        model = checkpoint.load(Path(tmp) / "run" / "model.safetensors").model
    res = evaluate_real(model, real, cfg.replace(tasks=scored, **({"history": -1} if a.no_history else {})))
    scores = {k: {r["metric"]: round(100 * r["value"], 1),
                  **({"pearson_r2": round(100 * r["pearson_r2"], 1)} if "pearson_r2" in r else {})} for k, r in res.items()}
    out = dict(task=a.task if len(keys) == 1 else list(keys), scored=list(scored), rel_time=a.rel_time, recent=cfg.recent,
               no_history=a.no_history, copy_skip=a.copy_skip, seed=a.seed, steps=tc.steps,
               tokens=tc.steps * cfg.batch_size * cfg.ctx_len, history=cfg.history, secs=round(time.time() - t0))
    if len(scored) == 1:
        out.update(scores[scored[0]])
    else:
        out["tasks"] = scores
        out["mean"] = round(sum(100 * r["value"] for r in res.values()) / len(res), 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
