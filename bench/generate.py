"""Generator benchmark: relforge vs plurel 1.1.0, side by side in one run.

Three parts (every measurement runs in a fresh single-threaded child process; CPU seconds are the
child's user+sys time around generation only, imports excluded; peak RSS is the child's
``ru_maxrss``, imports included):

1. **Default configs, same seeds**: generated cells (rows x columns over all tables, keys and time
   included, as ``/work/shared/anchors/plurel_generate.py`` counts them) per CPU second and peak
   RSS, relforge vs plurel (the anchor script, run with the anchor venv's python). Reported: the
   per-seed ratios and their medians (``ratio`` = median cells/CPU-s ratio, relforge over plurel).
2. **Efficiency table at a fixed table count** (the paper's 10/20/40/80 tables): wall time and peak
   memory of both generators with ``n_tables`` fixed (plurel through its public
   ``Config(database_params=DatabaseParams(num_tables_choices=...))``; the anchor script cannot fix
   it), next to the paper's figures.
3. **Scale**: one relforge database whose largest activity table has ``--scale-rows`` rows.

Usage::

    python bench/generate.py                 # full: 10 seeds, tables 10/20/40/80 x 2 seeds, 1M rows
    python bench/generate.py --quick         # 3 seeds, tables 10/20 x 1 seed, 200k rows

The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ANCHOR_PY = Path.home() / ".cache/relforge-anchors/venv/bin/python"
ANCHOR_SCRIPT = Path("/work/shared/anchors/plurel_generate.py")
REPO = Path(__file__).resolve().parents[1]
PAPER = {10: (147.5, 0.45), 20: (267.0, 0.55), 40: (584.3, 0.77), 80: (1368.6, 0.91)}  # s, GB
THREAD_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}


def _rss_now_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- children


def _relforge_child(seed: int, n_tables: int | None, scale_rows: int | None) -> dict:
    import numpy as np  # noqa: F401  (imports are not timed)

    import relforge.generate.links  # noqa: F401
    import relforge.generate.post  # noqa: F401
    import relforge.generate.render  # noqa: F401
    import relforge.generate.timeline  # noqa: F401
    import relforge.generate.values  # noqa: F401
    from relforge.generate.pipeline import database_schema, generate_database

    cfg = {"schema": {"n_tables": (n_tables, n_tables)}} if n_tables else None
    import_rss = _rss_now_mb()
    w0, c0 = time.perf_counter(), time.process_time()
    n_rows = None
    if scale_rows:
        schema = database_schema(seed, cfg)
        acts = [t for t in schema.tables.values() if t.kind == "activity"] or list(schema.tables.values())
        big = max(acts, key=lambda t: t.n_rows)
        n_rows = {big.name: int(scale_rows)}
    db = generate_database(seed, cfg, n_rows=n_rows)
    w1, c1 = time.perf_counter(), time.process_time()
    return dict(seed=seed, num_tables=len(db.tables), total_rows=int(db.n_rows),
                total_cells=int(sum(t.df.shape[0] * t.df.shape[1] for t in db.tables.values())),
                max_rows=int(max(len(t) for t in db.tables.values())),
                wall_s=round(w1 - w0, 3), cpu_s=round(c1 - c0, 3), peak_rss_mb=round(_peak_mb(), 1),
                import_rss_mb=round(import_rss, 1))


def _plurel_child(seed: int, n_tables: int) -> dict:
    """plurel 1.1.0 with a fixed table count, timed like the anchor script (public API only)."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    import torch

    torch.set_num_threads(1)
    from plurel import Config, SyntheticDataset
    from plurel.config import Choices, DatabaseParams

    import_rss = _rss_now_mb()
    cfg = Config(database_params=DatabaseParams(num_tables_choices=Choices(kind="range", value=[n_tables, n_tables])))
    w0, c0 = time.perf_counter(), time.process_time()
    db = SyntheticDataset(seed=seed, config=cfg).make_db()
    db.reindex_pkeys_and_fkeys()
    w1, c1 = time.perf_counter(), time.process_time()
    tables = db.table_dict
    return dict(seed=seed, num_tables=len(tables), total_rows=int(sum(len(t.df) for t in tables.values())),
                total_cells=int(sum(t.df.shape[0] * t.df.shape[1] for t in tables.values())),
                wall_s=round(w1 - w0, 3), cpu_s=round(c1 - c0, 3), peak_rss_mb=round(_peak_mb(), 1),
                import_rss_mb=round(import_rss, 1))


# ---------------------------------------------------------------- parent side


def _run_child(cmd: list[str], timeout: float) -> dict:
    env = dict(os.environ, TQDM_DISABLE="1", **THREAD_ENV)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f}s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": " | ".join((p.stderr or p.stdout).strip().splitlines()[-3:])}
    return json.loads(lines[-1])


def relforge_run(seed: int, n_tables: int | None = None, scale_rows: int | None = None, timeout: float = 900) -> dict:
    cmd = [sys.executable, __file__, "--_relforge-child", str(seed)]
    if n_tables:
        cmd += ["--_n-tables", str(n_tables)]
    if scale_rows:
        cmd += ["--_scale-rows", str(scale_rows)]
    return _run_child(cmd, timeout)


def plurel_runs(seeds: list[int], timeout: float = 900) -> dict[int, dict]:
    env = dict(os.environ, TQDM_DISABLE="1", **THREAD_ENV)
    cmd = [str(ANCHOR_PY), str(ANCHOR_SCRIPT), "--seeds", *map(str, seeds), "--timeout", str(timeout)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    out = {}
    for ln in p.stdout.splitlines():
        if ln.startswith("{"):
            r = json.loads(ln)
            out[r["seed"]] = r
    return out


def plurel_fixed(seed: int, n_tables: int, timeout: float) -> dict:
    return _run_child([str(ANCHOR_PY), __file__, "--_plurel-child", str(seed), "--_n-tables", str(n_tables)], timeout)


def _fmt_table(rows: list[list], header: list[str]) -> str:
    cols = list(zip(*([header] + [[str(x) for x in r] for r in rows])))
    widths = [max(len(x) for x in c) for c in cols]
    line = lambda r: "  ".join(str(x).rjust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _med(xs):
    xs = [x for x in xs if x is not None]
    return round(statistics.median(xs), 3) if xs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds of part 1 (default 0..9)")
    ap.add_argument("--quick", action="store_true", help="3 seeds, tables 10/20 x 1 seed, 200k-row scale run")
    ap.add_argument("--tables", type=int, nargs="*", default=None, help="fixed table counts of part 2")
    ap.add_argument("--table-seeds", type=int, default=None, help="seeds per table count in part 2")
    ap.add_argument("--scale-rows", type=int, default=None, help="rows of the largest activity table in part 3")
    ap.add_argument("--no-plurel", action="store_true", help="relforge only")
    ap.add_argument("--parts", type=int, nargs="+", default=[1, 2, 3], help="which parts to run")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--_relforge-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_plurel-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_n-tables", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_scale-rows", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a._relforge_child is not None:
        print(json.dumps(_relforge_child(a._relforge_child, a._n_tables, a._scale_rows)), flush=True)
        return
    if a._plurel_child is not None:
        print(json.dumps(_plurel_child(a._plurel_child, a._n_tables)), flush=True)
        return

    seeds = a.seeds or (list(range(3)) if a.quick else list(range(10)))
    tables = a.tables if a.tables is not None else ([10, 20] if a.quick else [10, 20, 40, 80])
    tseeds = a.table_seeds or (1 if a.quick else 2)
    scale_rows = a.scale_rows or (200_000 if a.quick else 1_000_000)
    use_plurel = not a.no_plurel and ANCHOR_PY.exists()
    result: dict = dict(machine=f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}",
                        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), seeds=seeds)

    # ---- part 1
    if 1 not in a.parts:
        seeds = []
    print(f"== 1. default configs, seeds {seeds} (one single-threaded child per seed) ==", flush=True)
    pl = plurel_runs(seeds, a.timeout) if use_plurel else {}
    rows, per_seed = [], []
    for s in seeds:
        r = relforge_run(s, timeout=a.timeout)
        p = pl.get(s, {})
        rr = r.get("total_cells", 0) / r["cpu_s"] if r.get("cpu_s") else None
        pr = p.get("total_cells", 0) / p["cpu_s"] if p.get("cpu_s") else None
        ratio = rr / pr if rr and pr else None
        mem = p["peak_rss_mb"] / r["peak_rss_mb"] if p.get("peak_rss_mb") and r.get("peak_rss_mb") else None
        per_seed.append(dict(seed=s, relforge=r, plurel=p, cells_per_cpu_s=rr, plurel_cells_per_cpu_s=pr,
                             ratio=ratio, mem_ratio=mem))
        rows.append([s, r.get("num_tables"), r.get("total_cells"), r.get("cpu_s"), r.get("peak_rss_mb"),
                     round(rr) if rr else r.get("error", "-"), p.get("num_tables"), p.get("total_cells"),
                     p.get("cpu_s"), p.get("peak_rss_mb"), round(pr) if pr else p.get("error", "-"),
                     round(ratio, 1) if ratio else "-", round(mem, 2) if mem else "-"])
    print(_fmt_table(rows, ["seed", "rf tables", "rf cells", "rf cpu s", "rf MB", "rf cells/s",
                            "pl tables", "pl cells", "pl cpu s", "pl MB", "pl cells/s", "ratio", "pl/rf mem"]))
    ratio = _med([x["ratio"] for x in per_seed])
    mem_ratio = _med([x["mem_ratio"] for x in per_seed])
    result.update(part1=per_seed, ratio=ratio, mem_ratio=mem_ratio,
                  relforge_cells_per_cpu_s=_med([x["cells_per_cpu_s"] for x in per_seed]),
                  plurel_cells_per_cpu_s=_med([x["plurel_cells_per_cpu_s"] for x in per_seed]),
                  relforge_peak_rss_mb=_med([x["relforge"].get("peak_rss_mb") for x in per_seed]),
                  plurel_peak_rss_mb=_med([x["plurel"].get("peak_rss_mb") for x in per_seed]))
    print(f"median cells/CPU-s ratio (relforge / plurel): {ratio}   median peak-RSS ratio (plurel / relforge): {mem_ratio}")

    # ---- part 2
    if 2 not in a.parts:
        tables = []
    print(f"\n== 2. fixed table counts {tables}, {tseeds} seed(s) each (wall s, peak GB) ==", flush=True)
    eff, rows = [], []
    for k in tables:
        rs = [relforge_run(s, n_tables=k, timeout=a.timeout) for s in range(tseeds)]
        ps = [plurel_fixed(s, k, a.timeout) for s in range(tseeds)] if use_plurel else []
        rec = dict(n_tables=k, relforge=rs, plurel=ps,
                   relforge_wall_s=_med([r.get("wall_s") for r in rs]),
                   relforge_cpu_s=_med([r.get("cpu_s") for r in rs]),
                   plurel_cpu_s=_med([p.get("cpu_s") for p in ps]),
                   relforge_peak_gb=_med([r["peak_rss_mb"] / 1024 for r in rs if "peak_rss_mb" in r]),
                   plurel_wall_s=_med([p.get("wall_s") for p in ps]),
                   plurel_peak_gb=_med([p["peak_rss_mb"] / 1024 for p in ps if "peak_rss_mb" in p]),
                   paper_s=PAPER.get(k, (None, None))[0], paper_gb=PAPER.get(k, (None, None))[1])
        eff.append(rec)
        rows.append([k, rec["relforge_wall_s"], rec["relforge_cpu_s"], rec["relforge_peak_gb"], rec["plurel_wall_s"],
                     rec["plurel_cpu_s"], rec["plurel_peak_gb"], rec["paper_s"], rec["paper_gb"],
                     round(rec["plurel_cpu_s"] / rec["relforge_cpu_s"], 1) if rec["plurel_cpu_s"] and rec["relforge_cpu_s"] else "-"])
    print(_fmt_table(rows, ["tables", "rf wall s", "rf cpu s", "rf GB", "pl wall s", "pl cpu s", "pl GB", "paper s",
                            "paper GB", "pl/rf cpu"]), flush=True)
    result["efficiency"] = eff

    # ---- part 3
    print(f"\n== 3. scale: largest activity table {scale_rows:,} rows, one core ==", flush=True)
    sc = relforge_run(0, scale_rows=scale_rows, timeout=a.timeout) if 3 in a.parts else {}
    result["scale"] = sc
    print(json.dumps(sc))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
