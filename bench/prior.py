#!/usr/bin/env python
"""The prior benchmark: pretrain the same RT at one token budget on each contender's synthetic
corpus (the new relforge prior, today's default generator, plurel 1.1.0; optionally the new prior
with synthetic forecast task tables), several training seeds each, then evaluate zero-shot on the
full test sets of the 7 real forecast tasks (F1 3, MovieLens 2, Chinook 2). Beside them, reported
apart, three real autocomplete tasks (F1 results.position, MovieLens ratings.rating, Chinook
Track.UnitPrice; 2,000 evenly spaced test rows each): what the label history cannot answer.

Library: ``relforge.experiments.prior.run_prior_benchmark`` (its docstring has the details).
Inputs are prepared here when missing and reused: plurel databases (the anchor script in the
anchor venv), the contenders' tokenized corpora (``--work``), the tokenized real databases
(``--cache``; embedding them with MiniLM is the slow part on CPU, so a cache made once can be
copied to a GPU machine). Every finished (contender, seed) run leaves ``result.json`` in its run
folder and is not rerun while the settings are the same: a stopped benchmark resumes, and runs
made on another machine (copy ``WORK/runs``) join those made here.

The LAST line printed is one JSON object: per contender per task mean and sd over seeds, and
``gain`` = mean over the tasks of (relforge-new - plurel), with its mean, sd and per-seed values;
``autocomplete``: per contender per autocomplete task R2 (mean, sd) and Pearson r2.

Usage:
  python bench/prior.py --quick                                   # minutes; a smoke run for tests
  python bench/prior.py --workers 2 --work out/prior               # the issue's configuration
  python bench/prior.py --device cuda --workers 3 --tokens 2e7     # on a GPU machine
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv=None) -> int:
    from relforge.errors import RelforgeError
    from relforge.experiments.prior import CONTENDERS, QUICK, PriorBenchConfig, headline, markdown, run_prior_benchmark

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny budget, 2 databases, hash embedder, one seed")
    ap.add_argument("--work", default="out/prior_bench", help="corpora, stores and runs (reused)")
    ap.add_argument("--cache", default=None, help="tokenized real databases (default WORK/real)")
    ap.add_argument("--out", default=None, help="results.json + table.md (default WORK/results)")
    ap.add_argument("--workers", type=int, default=1, help="(contender, seed) runs at a time")
    ap.add_argument("--device", default=None, help="cpu or cuda")
    ap.add_argument("--contenders", default=None, help=f"comma-separated, from {', '.join(CONTENDERS)}")
    ap.add_argument("--reference", default=None, help="gain = relforge-new - this contender (default plurel)")
    ap.add_argument("--seeds", default=None, help="training seeds, comma-separated (default 0,1,2)")
    ap.add_argument("--tasks", default=None, help="real tasks db/task, comma-separated (default: all 7)")
    ap.add_argument("--n-dbs", type=int, default=None, help="databases per contender")
    ap.add_argument("--tokens", type=float, default=None, help="token budget per run (context positions)")
    ap.add_argument("--model", default=None, help="RT preset (tiny, small)")
    ap.add_argument("--ctx-len", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--embedder", default=None, help="minilm (default) or hash")
    ap.add_argument("--task-share", type=float, default=None, help="forecast share of the contenders with forecast tasks (relforge-new)")
    ap.add_argument("--forecast-tasks", type=int, default=None, help="synthetic forecast tasks per database (relforge-new)")
    ap.add_argument("--name-shuffle", type=float, default=None)
    ap.add_argument("--mask-rate", type=float, default=None,
                    help="extra masked cells per training context, every contender (default 0; the session-7 figures: 0.3)")
    ap.add_argument("--huber-delta", type=float, default=None,
                    help="Huber delta of the regression loss in label sd (default 1, RT's; large: squared error)")
    ap.add_argument("--history", type=int, default=None,
                    help="forecast contexts: the entity's most recent closed labels (default 3; 0: all, the rule before session 10)")
    ap.add_argument("--autocomplete", default=None,
                    help="real autocomplete tasks scored beside the forecast tasks (comma list; 'none': skip; default: all three)")
    ap.add_argument("--autocomplete-rows", type=int, default=None,
                    help="evenly spaced test rows scored per autocomplete task (default 2000; 0: all)")
    ap.add_argument("--history-dropout", type=float, default=None,
                    help="share of forecast training contexts shown no label history (contenders with forecast tasks; default 0)")
    ap.add_argument("--peer-mask", type=float, default=None,
                    help="share of peer rows whose target cell is also masked in training (autocomplete contexts; default 0)")
    ap.add_argument("--rel-time", action="store_true", help="the model's row-age input (RTConfig.rel_time)")
    ap.add_argument("--linear-values", action="store_true",
                    help="numbers and datetimes also enter the model un-normalized (RTConfig.linear_values)")
    ap.add_argument("--copy-skip", action="store_true",
                    help="number targets = their column's visible mean in the context + the model's output (RTConfig.copy_skip)")
    ap.add_argument("--recent", type=int, default=None,
                    help="every context: the seed row and its parents show their this many most recent children first "
                         "(SamplerConfig.recent; default 0)")
    ap.add_argument("--decay-matrices-only", action="store_true",
                    help="weight decay on weight matrices only: norm gains and biases free (TrainConfig.decay_all=False)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads per run")
    ap.add_argument("--draws", action="store_true",
                    help="each training seed also gets its own corpus draw (the spread then covers the databases too)")
    ap.add_argument("--anchors", default=None, help="shared/anchors folder (default: found upwards, $RELFORGE_ANCHORS)")
    a = ap.parse_args(argv)
    try:
        cfg = QUICK if a.quick else PriorBenchConfig()
        kw = {}
        if a.contenders:
            kw["contenders"] = tuple(x.strip() for x in a.contenders.split(",") if x.strip())
        if a.seeds:
            kw["seeds"] = tuple(int(x) for x in a.seeds.split(","))
        if a.tasks:
            kw["tasks"] = tuple(x.strip() for x in a.tasks.split(",") if x.strip())
        if a.autocomplete is not None:
            kw["autocomplete"] = () if a.autocomplete == "none" else tuple(x.strip() for x in a.autocomplete.split(",")
                                                                            if x.strip())
        for k, v in (("reference", a.reference), ("n_dbs", a.n_dbs), ("preset", a.model), ("ctx_len", a.ctx_len),
                     ("batch_size", a.batch_size), ("lr", a.lr), ("embedder", a.embedder), ("device", a.device),
                     ("task_share", a.task_share), ("forecast_tasks", a.forecast_tasks),
                     ("name_shuffle", a.name_shuffle), ("mask_rate", a.mask_rate), ("threads", a.threads),
                     ("huber_delta", a.huber_delta), ("history", a.history),
                     ("history_dropout", a.history_dropout), ("peer_mask", a.peer_mask),
                     ("autocomplete_rows", a.autocomplete_rows), ("recent", a.recent)):
            if v is not None:
                kw[k] = v
        if a.tokens is not None:
            kw["tokens"] = int(a.tokens)
        if a.draws:
            kw["draws"] = True
        if a.rel_time:
            kw["rel_time"] = True
        if a.linear_values:
            kw["linear_values"] = True
        if a.copy_skip:
            kw["copy_skip"] = True
        if a.decay_matrices_only:
            kw["decay_all"] = False
        cfg = cfg.replace(**kw)
        work = Path(a.work)
        res = run_prior_benchmark(cfg, work=work, cache=a.cache, out=a.out or work / "results", workers=a.workers,
                                  anchors=a.anchors, log=lambda m: print(m, flush=True))
    except (RelforgeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown(res))
    print(json.dumps(headline(res), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
