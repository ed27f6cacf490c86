"""Corpus throughput: ``relforge corpus`` vs plurel 1.1.0 on the same seeds, in one run.

Both sides generate databases for seeds ``--offset .. --offset + --num-dbs - 1`` one after the other
in the same run, so they see the same machine load (the load average is recorded around each
side): first ``relforge corpus --workers 1`` (generate + write Parquet, one process; per-database CPU
seconds from its ``manifest.jsonl``), then the anchor ``plurel_generate.py`` (plurel 1.1.0, anchor
venv, one fresh single-threaded process per seed; CPU seconds around generation only, imports
excluded, no saving). The work differs by the Parquet write, which only relforge's figure
includes, so the ratio slightly favours plurel.

``ratio`` = plurel mean CPU s per database / relforge mean CPU s per database (same seeds; higher is
better for relforge). The summary also extrapolates both to ``--extrapolate`` databases (default
1,024) on ``--workers`` processes; ``--corpus DIR`` adds the measured figures of an existing
corpus run (its manifest; ``--wall`` its measured wall seconds) to the output.

Usage::

    python bench/corpus_throughput.py --num-dbs 16 [--out docs/bench/corpus.json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _anchors as A  # noqa: E402

THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}


def run_relforge(seeds: list[int], work: Path, timeout: float) -> tuple[list[dict], float]:
    env = dict(os.environ, **THREAD_ENV)
    src = str(A.REPO / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    out = work / "corpus"
    cmd = [sys.executable, "-m", "relforge.cli", "corpus", "--num-dbs", str(len(seeds)), "--offset", str(seeds[0]),
           "--out", str(out), "--workers", "1", "--no-progress"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - t0
    man = out / "manifest.jsonl"
    if p.returncode != 0 or not man.is_file():
        raise SystemExit(f"relforge corpus failed: {(p.stderr or p.stdout).strip().splitlines()[-3:]}")
    return [json.loads(x) for x in man.read_text().splitlines() if x.strip()], wall


def run_plurel(seeds: list[int], timeout: float) -> list[dict]:
    cmd = [str(A.anchor_python()), str(A.anchor_script("plurel_generate.py")), "--seeds", *map(str, seeds),
           "--timeout", str(timeout)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TQDM_DISABLE="1", **THREAD_ENV))
    recs = A.json_lines(p.stdout, '"seed"')
    if not recs:
        raise SystemExit(f"plurel run failed: {(p.stderr or p.stdout).strip().splitlines()[-3:]}")
    return recs


def summarize(relforge: list[dict], plurel: list[dict], n_extrapolate: int, workers: int) -> dict:
    """Mean CPU seconds per database of each side over the seeds both completed, their ratio and
    the extrapolation to ``n_extrapolate`` databases on ``workers`` processes."""
    rf = {r["seed"]: r for r in relforge if r.get("status") == "ok"}
    pl = {r["seed"]: r for r in plurel if r.get("cpu_s") is not None}
    both = sorted(set(rf) & set(pl))
    if not both:
        return {"seeds": [], "ratio": None}
    rf_cpu = sum(rf[s].get("cpu_seconds", rf[s]["seconds"]) for s in both) / len(both)
    pl_cpu = sum(pl[s]["cpu_s"] for s in both) / len(both)
    return dict(seeds=both, relforge_cpu_s_per_db=round(rf_cpu, 3), plurel_cpu_s_per_db=round(pl_cpu, 3),
                ratio=A.rounded(A.ratio(pl_cpu, rf_cpu), 2),
                relforge_rows_per_db=round(sum(rf[s]["rows"] for s in both) / len(both), 1),
                plurel_rows_per_db=round(sum(pl[s]["total_rows"] for s in both) / len(both), 1),
                extrapolate_dbs=n_extrapolate, extrapolate_workers=workers,
                relforge_extrapolated_s=round(rf_cpu * n_extrapolate / workers, 1),
                plurel_extrapolated_s=round(pl_cpu * n_extrapolate / workers, 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--num-dbs", type=int, default=16)
    ap.add_argument("--offset", type=int, default=0, help="first seed")
    ap.add_argument("--extrapolate", type=int, default=1024, help="databases of the extrapolated corpus")
    ap.add_argument("--workers", type=int, default=2, help="processes of the extrapolated corpus")
    ap.add_argument("--corpus", default=None, help="an existing corpus folder whose manifest to summarize too")
    ap.add_argument("--wall", type=float, default=None, help="measured wall seconds of that corpus run")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--out", default=None, help="write the summary JSON here")
    a = ap.parse_args()

    seeds = list(range(a.offset, a.offset + a.num_dbs))
    head = {"bench": "corpus_throughput", **A.machine()}
    work = A.scratch("bench-corpus")
    try:
        load0 = A.load_average()
        rf, rf_wall = run_relforge(seeds, work, a.timeout)
        load1 = A.load_average()
        pl = run_plurel(seeds, a.timeout)
        load2 = A.load_average()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {**head, **summarize(rf, pl, a.extrapolate, a.workers), "relforge_wall_s": round(rf_wall, 1),
               "plurel_wall_s": round(sum(r.get("wall_s", 0) for r in pl), 1),
               "load_before_relforge": load0, "load_after_relforge": load1, "load_after_plurel": load2,
               "per_seed": [dict(seed=s, relforge_cpu_s=r.get("cpu_seconds"), relforge_rows=r.get("rows"),
                                 plurel_cpu_s=p.get("cpu_s"), plurel_rows=p.get("total_rows"))
                            for s, r, p in ((s, next((x for x in rf if x["seed"] == s), {}),
                                             next((x for x in pl if x["seed"] == s), {})) for s in seeds)]}
    if a.corpus:
        recs = [json.loads(x) for x in Path(a.corpus, "manifest.jsonl").read_text().splitlines() if x.strip()]
        ok = [r for r in recs if r["status"] == "ok"]
        summary["corpus"] = dict(databases=len(recs), ok=len(ok), wall_s=a.wall,
                                 cpu_s_per_db=round(sum(r.get("cpu_seconds", r["seconds"]) for r in ok) / max(len(ok), 1), 3))
    text = json.dumps(summary, indent=1)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(text + "\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
