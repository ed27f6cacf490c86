"""Corpus throughput: relforge's ``relforge corpus`` manifest vs plurel 1.1.0 on a sample of its seeds.

Run the corpus first (once; it is CPU heavy), then this script, which times plurel (the anchor venv,
``/work/shared/anchors/plurel_generate.py``, one fresh single-threaded process per seed) on a
sample of the same seeds and extrapolates plurel's time for the whole corpus::

    /usr/bin/time -v relforge corpus --num-dbs 1024 --out /tmp/corpus1024 --workers 2
    python bench/corpus_throughput.py --corpus /tmp/corpus1024 --sample 16 [--wall SECONDS]
        [--plurel-jsonl FILE]   # plurel_generate.py --seeds <the sample> output measured earlier

``--wall`` is the measured wall time of the corpus run (from ``time``); without it the script
uses the sum of per-database seconds over the workers as a lower bound.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ANCHOR_PY = Path.home() / ".cache/relforge-anchors/venv/bin/python"
ANCHOR_SCRIPT = Path("/work/shared/anchors/plurel_generate.py")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--sample", type=int, default=16)
    ap.add_argument("--wall", type=float, default=None, help="measured wall seconds of the corpus run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=None, help="write the summary JSON here")
    ap.add_argument("--plurel-jsonl", default=None, help="plurel_generate.py output already measured (skip the run)")
    a = ap.parse_args()

    recs = [json.loads(x) for x in Path(a.corpus, "manifest.jsonl").read_text().splitlines() if x.strip()]
    ok = [r for r in recs if r["status"] == "ok"]
    seeds = sorted(r["seed"] for r in recs)
    sample = [seeds[i] for i in np.linspace(0, len(seeds) - 1, a.sample).round().astype(int)]
    if a.plurel_jsonl:
        pl = [json.loads(x) for x in Path(a.plurel_jsonl).read_text().splitlines() if x.startswith("{")]
    else:
        p = subprocess.run([str(ANCHOR_PY), str(ANCHOR_SCRIPT), "--seeds", *map(str, sample)], capture_output=True,
                           text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        pl = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
        if not pl:
            sys.exit(f"plurel run failed: {p.stderr[-2000:]}")
    by_seed = {r["seed"]: r for r in recs}
    rows = []
    for q in pl:
        r = by_seed[q["seed"]]
        rows.append(dict(seed=q["seed"], plurel_wall_s=q["wall_s"], plurel_cpu_s=q["cpu_s"],
                         relforge_s=r.get("seconds"), relforge_cpu_s=r.get("cpu_seconds"), plurel_rows=q["total_rows"],
                         relforge_rows=r.get("rows")))
    pl_cpu = float(np.mean([q["cpu_s"] for q in pl]))
    pl_wall = float(np.mean([q["wall_s"] for q in pl]))
    ours_cpu = float(np.mean([r.get("cpu_seconds", r["seconds"]) for r in ok]))
    ours_cpu_sample = float(np.mean([r["relforge_cpu_s"] for r in rows if r["relforge_cpu_s"] is not None]))
    wall = a.wall if a.wall is not None else sum(r["seconds"] for r in ok) / a.workers
    n = len(recs)
    summary = dict(databases=n, ok=len(ok), relforge_wall_s=round(wall, 1), relforge_cpu_s_per_db=round(ours_cpu, 3),
                   relforge_cpu_s_per_db_sample=round(ours_cpu_sample, 3), plurel_sample=len(pl),
                   plurel_cpu_s_per_db=round(pl_cpu, 3), plurel_wall_s_per_db=round(pl_wall, 3),
                   plurel_extrapolated_1proc_s=round(pl_cpu * n, 1),
                   plurel_extrapolated_2proc_s=round(pl_cpu * n / a.workers, 1),
                   ratio_cpu_per_db_plurel_over_relforge=round(pl_cpu / ours_cpu, 2),
                   ratio_sample_cpu=round(pl_cpu / ours_cpu_sample, 2), rows=rows)
    text = json.dumps(summary, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
