#!/usr/bin/env python
"""Does more synthetic data help on real tasks? The prior benchmark's run (same RT, token budget,
real test sets) for one contender at several corpus sizes N: zero-shot metric and loss on the 7
real tasks per N, mean and sd over training seeds (the scaling study's real-task curve).

    python bench/prior_scaling.py --n 2,4,8,16,32 --seeds 0,1,2 --workers 2 --work out/prior_scaling

The packaged model's recipe (today's default prior, 24 M tokens, the copy skip, one corpus draw per
seed), reusing the benchmark's N = 16 runs from the same work folder:

    python bench/prior_scaling.py --contender relforge-default --tokens 24000000 --threads 1 --draws --copy-skip \
        --autocomplete-suite --n 2,4,8,16,32 --seeds 0,1,2 --workers 2 --work out/prior_bench

Runs are the prior benchmark's (``relforge.experiments.prior.run_one``): resumable, one folder per
(N, seed, settings) named as the benchmark names its own (``run_dir``), so the N = 16 runs are the
benchmark's runs and two sweeps with other settings never share a folder. The LAST line printed is one JSON object: per N the 7-task mean metric and the mean
real-task loss (mean and sd over seeds).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    import numpy as np

    from relforge.errors import RelforgeError
    from relforge.experiments.prior import (CONTENDERS, PriorBenchConfig, build_corpus_stores, real_stores, run_dir,
                                            run_jobs)

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="2,4,8,16,32", help="corpus sizes (databases)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--contender", default="relforge-new-shuffled", help=f"one of {', '.join(CONTENDERS)}")
    ap.add_argument("--work", default="out/prior_scaling")
    ap.add_argument("--cache", default=None, help="tokenized real databases (default WORK/real)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--mask-rate", type=float, default=None,
                    help="extra masked cells per training context (default: the benchmark's, 0; the 2026-12-04 figures: 0.3)")
    ap.add_argument("--tokens", type=float, default=None, help="token budget per run (default: the benchmark's)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per run (default: the benchmark's)")
    ap.add_argument("--draws", action="store_true", help="each training seed its own corpus draw, as bench/prior.py --draws")
    ap.add_argument("--copy-skip", action="store_true", help="numbers predicted as the context's mean plus a correction (the packaged recipe)")
    ap.add_argument("--autocomplete-suite", action="store_true",
                    help="also score the benchmark's autocomplete suite, so that the N = 16 runs are the benchmark's own (reused)")
    ap.add_argument("--plot", default=None, help="write the two curves (metric, real-task loss vs N) to this PNG")
    a = ap.parse_args(argv)
    try:
        ns = sorted({int(x) for x in a.n.split(",") if x.strip()})
        seeds = [int(x) for x in a.seeds.split(",") if x.strip()]
        if a.contender not in CONTENDERS or not ns or min(ns) < 1 or not seeds:
            raise RelforgeError(f"need a known contender ({', '.join(CONTENDERS)}), sizes >= 1 and seeds")
        if CONTENDERS[a.contender]["source"] == "real":
            raise RelforgeError(f"contender {a.contender!r} trains on the real tasks: it has no corpus size to sweep")
        work = Path(a.work)
        # the forecast tasks only: the study reports their mean and loss, not the autocomplete suite
        base = PriorBenchConfig(contenders=(a.contender,), reference=a.contender, seeds=tuple(seeds))
        if not a.autocomplete_suite:
            base = base.replace(autocomplete=())
        over = dict(mask_rate=a.mask_rate, tokens=None if a.tokens is None else int(a.tokens), threads=a.threads,
                    draws=a.draws or None, copy_skip=a.copy_skip or None)
        base = base.replace(**{k: v for k, v in over.items() if v is not None})
        base.validate()  # bad --tokens / --threads / --mask-rate: one line, before any work
        real = real_stores(base, Path(a.cache) if a.cache else work / "real", log=print)
        jobs = []
        for n in ns:
            cfg = base.replace(n_dbs=n)
            for s in seeds:  # with --draws each seed trains on its own corpus draw, as in bench/prior.py
                folder, _ = build_corpus_stores(a.contender, cfg, work, draw=s if cfg.draws else 0, log=print)
                jobs.append(dict(contender=a.contender, seed=s, cfg=cfg.to_dict(), stores=str(folder), real=real, n=n,
                                 run_dir=str(run_dir(work, cfg, a.contender, s))))
    except (RelforgeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs = run_jobs(jobs, a.workers)
    out = {}
    for j, r in zip(jobs, runs):
        v = [t["value"] for t in r["tasks"].values()]
        loss = [t.get("loss", float("nan")) for t in r["tasks"].values()]
        out.setdefault(j["n"], []).append((float(np.mean(v)), float(np.mean(loss)), r["loss_last"]))
        print(f"n {j['n']} seed {r['seed']}: 7-task mean {100 * np.mean(v):.1f}, real loss {np.mean(loss):.4f}, "
              f"train loss {r['loss_last']}", flush=True)
    line = {"contender": a.contender, "seeds": seeds, "tokens_per_run": runs[0]["tokens"], "n": {}}
    for n, vals in sorted(out.items()):
        m, lo, tl = (np.array(x) for x in zip(*vals))
        sd = (lambda x: float(np.std(x, ddof=1)) if len(x) > 1 else 0.0)
        line["n"][str(n)] = dict(metric_mean=float(m.mean()), metric_sd=sd(m), real_loss=float(lo.mean()),
                                 real_loss_sd=sd(lo), train_loss=float(tl.mean()))
        print(f"| {n} | {100 * m.mean():.1f} ± {100 * sd(m):.1f} | {lo.mean():.4f} ± {sd(lo):.4f} | {tl.mean():.4f} |")
    if a.plot:
        plot(line, a.plot)
    print(json.dumps(line, sort_keys=True))
    return 0


def plot(line: dict, path: str) -> None:
    """7-task mean metric and mean real-task loss against N (log axis), mean ± sd over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted(int(n) for n in line["n"])
    pts = [line["n"][str(n)] for n in ns]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    a1.errorbar(ns, [100 * p["metric_mean"] for p in pts], [100 * p["metric_sd"] for p in pts], marker="o", capsize=3)
    a1.set(xscale="log", xlabel="pretraining databases N", ylabel="7-task mean (AUROC / R2, %)",
           title="zero-shot on the real test sets")
    a2.errorbar(ns, [p["real_loss"] for p in pts], [p["real_loss_sd"] for p in pts], marker="o", capsize=3, color="C1")
    a2.set(xscale="log", xlabel="pretraining databases N", ylabel="mean real-task loss", title="real-task loss")
    for ax in (a1, a2):
        ax.minorticks_off()
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.grid(alpha=0.3)
    fig.suptitle(f"{line['contender']}, {line['tokens_per_run'] / 1e6:.0f} M tokens per run, seeds {line['seeds']}", fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
