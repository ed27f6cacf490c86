"""Generator benchmark: relforge vs plurel 1.1.0, side by side in one run.

Three parts (every measurement runs in a fresh single-threaded child process; CPU seconds are the
child's user+sys time around generation only, imports excluded; peak RSS is the child's
``ru_maxrss``, imports included):

1. **Same seeds, two relforge configurations against one plurel run**: generated cells (rows x
   columns over all tables, keys and time included, as the anchor ``plurel_generate.py`` counts
   them) per CPU second and peak RSS. plurel 1.1.0 runs the anchor script (``../shared/anchors``,
   anchor venv, default ``Config()``); relforge runs (a) its default configuration and (b) the
   **same-work** configuration :data:`SAME_WORK` (plurel's MLP width 32, no in-degree cap on the
   causal graphs, every non-source node reading every foreign key). Reported: per-seed ratios and
   their medians, ``ratio`` (default) and ``same_work_ratio`` (same-work), both relforge over plurel
   and both against the plurel figures of this run. The memory part says how much of the peak-RSS
   gap is the import of torch (``torch_import_mb``, measured in the anchor venv).
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
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _anchors as A  # noqa: E402

REPO = A.REPO
#: The same-work configuration: the knobs that change how much arithmetic a cell costs set to
#: plurel 1.1.0's values (generator.md §4): MLP / embedding width 32 (relforge default 16); no
#: in-degree cap on a causal node (relforge default 4; plurel has none, its BA ``ba_max_in_degree``
#: only gates the optional leaf flip, as relforge's ``ba`` layout does); every non-source node reads
#: every foreign key (relforge default: a U(0.25, 0.8) share of nodes per key). What still differs is
#: listed in docs/benchmarks.md ("Generation").
SAME_WORK = {"scm": {"emb_dim": 32, "max_parents": 100_000, "fk_reader_share": (1.0, 1.0)}}
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


def _relforge_child(seed: int, n_tables: int | None, scale_rows: int | None, same_work: bool = False) -> dict:
    import numpy as np  # noqa: F401  (imports are not timed)

    import relforge.generate.links  # noqa: F401
    import relforge.generate.post  # noqa: F401
    import relforge.generate.render  # noqa: F401
    import relforge.generate.timeline  # noqa: F401
    import relforge.generate.values  # noqa: F401
    from relforge.generate.pipeline import database_schema, generate_database

    cfg = {"schema": {"n_tables": (n_tables, n_tables)}} if n_tables else {}
    if same_work:
        cfg.update(SAME_WORK)
    cfg = cfg or None
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


def relforge_run(seed: int, n_tables: int | None = None, scale_rows: int | None = None, timeout: float = 900,
                 same_work: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--_relforge-child", str(seed)] + (["--_same-work"] if same_work else [])
    if n_tables:
        cmd += ["--_n-tables", str(n_tables)]
    if scale_rows:
        cmd += ["--_scale-rows", str(scale_rows)]
    return _run_child(cmd, timeout)


def plurel_runs(seeds: list[int], timeout: float = 900) -> dict[int, dict]:
    env = dict(os.environ, TQDM_DISABLE="1", **THREAD_ENV)
    cmd = [str(A.anchor_python()), str(A.anchor_script("plurel_generate.py")), "--seeds", *map(str, seeds),
           "--timeout", str(timeout)]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    return {r["seed"]: r for r in A.json_lines(p.stdout, '"seed"')}


def plurel_fixed(seed: int, n_tables: int, timeout: float) -> dict:
    return _run_child([str(A.anchor_python()), __file__, "--_plurel-child", str(seed), "--_n-tables", str(n_tables)],
                      timeout)


def _import_child() -> dict:
    """RSS of a bare interpreter, then after ``import torch`` (run with the anchor venv's python)."""
    before = _rss_now_mb()
    import torch  # noqa: F401

    return dict(bare_rss_mb=round(before, 1), torch_rss_mb=round(_rss_now_mb(), 1),
                torch_import_mb=round(_rss_now_mb() - before, 1))


def torch_import(timeout: float = 300) -> dict:
    return _run_child([str(A.anchor_python()), __file__, "--_import-child"], timeout)


def seed_row(seed: int, rf: dict, rf_same: dict, pl: dict) -> dict:
    """The per-seed record of part 1: cells per CPU second of each side and the two ratios."""
    return dict(seed=seed, relforge=rf, relforge_same_work=rf_same, plurel=pl,
                cells_per_cpu_s=A.rate(rf.get("total_cells"), rf.get("cpu_s")),
                same_work_cells_per_cpu_s=A.rate(rf_same.get("total_cells"), rf_same.get("cpu_s")),
                plurel_cells_per_cpu_s=A.rate(pl.get("total_cells"), pl.get("cpu_s")),
                ratio=A.cells_ratio(rf, pl), same_work_ratio=A.cells_ratio(rf_same, pl),
                mem_ratio=A.ratio(pl.get("peak_rss_mb"), rf.get("peak_rss_mb")))


def summarize(per_seed: list[dict], imp: dict | None = None) -> dict:
    """Medians over seeds (each ratio is per seed first: the two generators draw different schemas
    from the same seed) and the memory split: peak RSS = RSS after imports + generation."""
    med = lambda k: A.rounded(A.median([x[k] for x in per_seed]), 3)  # noqa: E731
    sub = lambda side, k: A.median([x[side].get(k) for x in per_seed])  # noqa: E731
    out = dict(ratio=med("ratio"), same_work_ratio=med("same_work_ratio"), mem_ratio=med("mem_ratio"),
               relforge_cells_per_cpu_s=med("cells_per_cpu_s"),
               relforge_same_work_cells_per_cpu_s=med("same_work_cells_per_cpu_s"),
               plurel_cells_per_cpu_s=med("plurel_cells_per_cpu_s"),
               relforge_peak_rss_mb=sub("relforge", "peak_rss_mb"),
               relforge_same_work_peak_rss_mb=sub("relforge_same_work", "peak_rss_mb"),
               plurel_peak_rss_mb=sub("plurel", "peak_rss_mb"))
    rf_imp, pl_imp = sub("relforge", "import_rss_mb"), sub("plurel", "import_rss_mb")
    if None not in (rf_imp, pl_imp, out["relforge_peak_rss_mb"], out["plurel_peak_rss_mb"]):
        gap = out["plurel_peak_rss_mb"] - out["relforge_peak_rss_mb"]
        mem = dict(peak_gap_mb=round(gap, 1), relforge_import_mb=rf_imp, plurel_import_mb=pl_imp,
                   import_gap_mb=round(pl_imp - rf_imp, 1),
                   relforge_generation_mb=round(out["relforge_peak_rss_mb"] - rf_imp, 1),
                   plurel_generation_mb=round(out["plurel_peak_rss_mb"] - pl_imp, 1))
        mem["import_share_of_gap"] = round(mem["import_gap_mb"] / gap, 3) if gap > 0 else None
        if imp and imp.get("torch_import_mb") is not None:
            mem["torch_import_mb"] = imp["torch_import_mb"]
            mem["torch_share_of_gap"] = round(imp["torch_import_mb"] / gap, 3) if gap > 0 else None
            mem["mem_ratio_without_torch"] = A.rounded(A.ratio(out["plurel_peak_rss_mb"] - imp["torch_import_mb"],
                                                               out["relforge_peak_rss_mb"]), 3)
        out["memory"] = mem
    return out


def _fmt_table(rows: list[list], header: list[str]) -> str:
    cols = list(zip(*([header] + [[str(x) for x in r] for r in rows])))
    widths = [max(len(x) for x in c) for c in cols]
    line = lambda r: "  ".join(str(x).rjust(w) for x, w in zip(r, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _med(xs):
    return A.rounded(A.median(xs), 3)


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
    ap.add_argument("--no-same-work", action="store_true", help="skip the same-work relforge runs of part 1")
    ap.add_argument("--out", default=None, help="also write the summary JSON to this file")
    ap.add_argument("--_relforge-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_plurel-child", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_import-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_same-work", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_n-tables", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_scale-rows", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a._relforge_child is not None:
        print(json.dumps(_relforge_child(a._relforge_child, a._n_tables, a._scale_rows, a._same_work)), flush=True)
        return
    if a._plurel_child is not None:
        print(json.dumps(_plurel_child(a._plurel_child, a._n_tables)), flush=True)
        return
    if a._import_child:
        print(json.dumps(_import_child()), flush=True)
        return

    seeds = a.seeds or (list(range(3)) if a.quick else list(range(10)))
    tables = a.tables if a.tables is not None else ([10, 20] if a.quick else [10, 20, 40, 80])
    tseeds = a.table_seeds or (1 if a.quick else 2)
    scale_rows = a.scale_rows or (200_000 if a.quick else 1_000_000)
    use_plurel = not a.no_plurel
    result: dict = dict(bench="generate", **A.machine(), seeds=seeds, same_work_config=SAME_WORK)

    # ---- part 1
    if 1 not in a.parts:
        seeds = []
    print(f"== 1. seeds {seeds}: plurel default, relforge default and same-work (one single-threaded child "
          f"each) ==", flush=True)
    pl = plurel_runs(seeds, a.timeout) if use_plurel and seeds else {}
    imp = torch_import() if use_plurel and seeds else None
    rows, per_seed = [], []
    for s in seeds:
        r = relforge_run(s, timeout=a.timeout)
        rs = relforge_run(s, timeout=a.timeout, same_work=True) if not a.no_same_work else {}
        rec = seed_row(s, r, rs, pl.get(s, {}))
        per_seed.append(rec)
        p = rec["plurel"]
        fmt = lambda x, nd=1: round(x, nd) if x else "-"  # noqa: E731
        rows.append([s, r.get("total_cells", r.get("error", "-")), r.get("cpu_s"), r.get("peak_rss_mb"),
                     rs.get("total_cells", rs.get("error", "-")), rs.get("cpu_s"), rs.get("peak_rss_mb"),
                     p.get("total_cells", p.get("error", "-")), p.get("cpu_s"), p.get("peak_rss_mb"),
                     fmt(rec["ratio"]), fmt(rec["same_work_ratio"]), fmt(rec["mem_ratio"], 2)])
    print(_fmt_table(rows, ["seed", "rf cells", "rf cpu s", "rf MB", "sw cells", "sw cpu s", "sw MB",
                            "pl cells", "pl cpu s", "pl MB", "ratio", "sw ratio", "pl/rf mem"]))
    summ = summarize(per_seed, imp)
    result.update(part1=per_seed, torch_import=imp, **summ)
    print(f"median cells/CPU-s ratio (relforge / plurel): default {summ['ratio']}, same-work "
          f"{summ['same_work_ratio']};  median peak-RSS ratio (plurel / relforge): {summ['mem_ratio']}")
    if "memory" in summ:
        print(f"memory: {json.dumps(summ['memory'])}", flush=True)

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
    result["load_end"] = A.load_average()
    print(json.dumps(sc))
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
