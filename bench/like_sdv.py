"""``generate --like`` (fitted) vs SDV 1.37 HMASynthesizer on F1, Chinook and MovieLens.

Both systems get the same tables and keys (relforge's real-data loaders; SDV through its metadata:
primary keys, foreign-key relationships, sdtypes). Each system runs in its own fresh process (SDV in
its own venv, built by ``bash ../shared/anchors/setup_sdv.sh``) that loads, fits and samples one
database of the source's size and reports wall and CPU seconds of fit and sample and its peak RSS.
The generated databases are then scored against the source by the same code as
``relforge report GEN --vs SOURCE`` (relforge.report.compare, relforge.report.privacy): column
shapes, cardinality shapes, pair trends, per-table C2ST, exact-match share and DCR.

What SDV does not get: text columns (free text; SDV would model them as categories and copy them;
they are not scored by the matched scores nor by the privacy figures, for either system) and
self-references (HMA supports no cycle: Chinook's Employee.ReportsTo is given to SDV as a plain id
column). SDV runs under a CPU-time limit per database (``--sdv-cpu`` seconds, fit + sample, single-threaded
BLAS; the machine is shared, so CPU time rather than wall time) and a wall-clock cap of six times
that; a database it does not finish is reported as such, with the limit that stopped it and the CPU
time it had used.

    python bench/like_sdv.py [--dbs f1 chinook movielens] [--sdv-cpu 600] [--seed 0]
        [--sdv-cache DIR]   # reuse SDV outputs of an earlier run of this script (DIR/<db>/)
        [--tables T1 T2 ...]   # only these tables (e.g. a subset SDV can finish on a small machine)
        [--json OUT.json]

The last line printed is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SDV_PY = Path(os.environ.get("SDV_VENV", Path.home() / ".cache/relforge-anchors/sdv-venv")) / "bin/python"


# ------------------------------------------------------------------------------ SDV side (its venv)


def sdv_worker(src: str, dst: str) -> None:
    """Fit HMASynthesizer on the CSV export in ``src`` and write its sample to ``dst``."""
    import pandas as pd
    from sdv.metadata import Metadata
    from sdv.multi_table import HMASynthesizer

    spec = json.loads(Path(src, "spec.json").read_text())
    data = {}
    for name, t in spec["tables"].items():
        df = pd.read_csv(Path(src, f"{name}.csv"), dtype={c: "string" for c in t["cats"]})
        for c in t["datetimes"]:
            df[c] = pd.to_datetime(df[c])
        data[name] = df
    md = {"METADATA_SPEC_VERSION": "V1", "tables": {}, "relationships": []}
    for name, t in spec["tables"].items():
        cols = {}
        for c in data[name].columns:
            if c in t["ids"]:
                cols[c] = {"sdtype": "id"}
            elif c in t["datetimes"]:
                cols[c] = {"sdtype": "datetime", "datetime_format": "%Y-%m-%d %H:%M:%S"}
            elif c in t["cats"]:
                cols[c] = {"sdtype": "categorical"}
            elif c in t["bools"]:
                cols[c] = {"sdtype": "boolean"}
            else:
                cols[c] = {"sdtype": "numerical"}
        md["tables"][name] = {"columns": cols}
        if t["pkey"]:
            md["tables"][name]["primary_key"] = t["pkey"]
    for r in spec["relationships"]:
        md["relationships"].append(dict(parent_table_name=r[0], parent_primary_key=r[1], child_table_name=r[2],
                                        child_foreign_key=r[3]))
    metadata = Metadata.load_from_dict(md)
    t0, c0 = time.perf_counter(), time.process_time()
    syn = HMASynthesizer(metadata, verbose=False)
    syn.fit(data)
    t1, c1 = time.perf_counter(), time.process_time()
    out = syn.sample(scale=1.0)
    t2, c2 = time.perf_counter(), time.process_time()
    Path(dst).mkdir(parents=True, exist_ok=True)
    for name, df in out.items():
        df.to_csv(Path(dst, f"{name}.csv"), index=False, date_format="%Y-%m-%d %H:%M:%S")
    rec = dict(fit_s=t1 - t0, sample_s=t2 - t1, fit_cpu_s=c1 - c0, sample_cpu_s=c2 - c1,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    Path(dst, "timing.json").write_text(json.dumps(rec))


# ------------------------------------------------------------------------------ relforge side


def load_source(db_name: str, tables: list[str] | None = None):
    """A real database, optionally restricted to ``tables`` (foreign keys to dropped tables dropped)."""
    from relforge import realdata
    from relforge.db.database import Database

    db = realdata.load(db_name)
    if not tables:
        return db
    keep = {}
    for n in tables:
        t = db[n]
        gone = [c for c, p in t.fkey_col_to_pkey_table.items() if p not in tables]
        keep[n] = t._with_df(t.df.drop(columns=gone))
        keep[n].fkey_col_to_pkey_table = {c: p for c, p in t.fkey_col_to_pkey_table.items() if p in tables}
    return Database(keep, db.val_timestamp, db.test_timestamp, f"{db.name}[{','.join(tables)}]", dict(db.meta))


def relforge_worker(db_name: str, dst: str, seed: int, mode: str = "fitted", tables: str = "") -> None:
    """Fit relforge's --like model on a real database and save one sample (fresh process);
    ``mode="schema"``: today's schema + row counts + generic prior, for reference."""
    from relforge.generate.like import fit_like, generate_like, sample_like, schema_like

    db = load_source(db_name, [x for x in tables.split(",") if x])
    t0, c0 = time.perf_counter(), time.process_time()
    model = fit_like(db) if mode == "fitted" else None
    t1, c1 = time.perf_counter(), time.process_time()
    gen = sample_like(model, schema_like(db), seed) if mode == "fitted" else generate_like(db, seed, mode="schema")
    t2, c2 = time.perf_counter(), time.process_time()
    gen.save(Path(dst) / "db")
    rec = dict(fit_s=t1 - t0, sample_s=t2 - t1, fit_cpu_s=c1 - c0, sample_cpu_s=c2 - c1,
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               model_kb=len(model.to_json()) / 1024 if model else None)
    Path(dst, "timing.json").write_text(json.dumps(rec))


def export_for_sdv(db, folder: Path) -> None:
    from relforge.db.table import Stype

    folder.mkdir(parents=True, exist_ok=True)
    spec = {"tables": {}, "relationships": []}
    for name, t in db.tables.items():
        keep = [c for c in t.df.columns if c in t.key_cols or t.stypes.get(c) != Stype.text]
        df = t.df[keep]
        ids = sorted(t.key_cols)
        dts = [c for c in keep if c not in ids and t.stypes.get(c) == Stype.datetime]
        cats = [c for c in keep if c not in ids and t.stypes.get(c) == Stype.categorical]
        bools = [c for c in keep if c not in ids and t.stypes.get(c) == Stype.boolean]
        df.to_csv(folder / f"{name}.csv", index=False, date_format="%Y-%m-%d %H:%M:%S")
        spec["tables"][name] = dict(pkey=t.pkey_col, ids=ids, datetimes=dts, cats=cats, bools=bools)
        for c, p in t.fkey_col_to_pkey_table.items():
            if p != name:  # HMA: no self-references
                spec["relationships"].append([p, db[p].pkey_col, name, c])
    (folder / "spec.json").write_text(json.dumps(spec))


def load_sdv_output(db, folder: Path):
    """SDV's CSVs as a relforge Database with the source's keys and column types."""
    import pandas as pd

    from relforge.db.database import Database
    from relforge.db.table import Stype, Table

    tables = {}
    for name, t in db.tables.items():
        df = pd.read_csv(folder / f"{name}.csv")
        for c in df.columns:
            st = t.stypes.get(c)
            if st == Stype.datetime or c == t.time_col:
                df[c] = pd.to_datetime(df[c], errors="coerce")
            elif st == Stype.categorical and not pd.api.types.is_numeric_dtype(t.df[c].dtype):
                df[c] = df[c].astype("string")
        tables[name] = Table(df, t.pkey_col, dict(t.fkey_col_to_pkey_table), t.time_col,
                             {c: s for c, s in t.stypes.items() if c in df.columns}, t.kind)
    return Database(tables, db.val_timestamp, db.test_timestamp, f"sdv-{db.name}")


def score(src, gen, seed: int) -> dict:
    import numpy as np

    from relforge.report.compare import compare_databases
    from relforge.report.metrics import database_metrics
    from relforge.report.privacy import privacy_figures

    ms, mg = database_metrics(src, seed=seed), database_metrics(gen, seed=seed)
    cmp = compare_databases(gen, src, mg, ms, seed=seed)["matched"]
    c2 = {n: (v.get("auroc") if isinstance(v, dict) else None) for n, v in cmp["c2st"].items()}
    pv = privacy_figures(src, gen, seed=seed)
    vals = [v for v in c2.values() if v is not None]
    cols = cmp["column_shapes"]
    return dict(column_shapes=cmp["means"]["column_shapes"], cardinality_shapes=cmp["means"]["cardinality_shape"],
                pair_trends=cmp["means"]["pair_trends"], c2st_mean=float(np.mean(vals)) if vals else None, c2st=c2,
                columns_scored=sum(v is not None for v in cols.values()), columns_unscored=sum(v is None for v in cols.values()),
                per_column=cols, per_key=cmp["cardinality_shape"],
                privacy={k: pv[k] for k in ("exact_match_share", "holdout_exact_match_share", "dcr_median",
                                             "dcr_median_vs_rest", "holdout_dcr_median")})


def run(cmd, timeout=None, env=None, cpu_limit=None):
    """Run ``cmd``; returns (exit code or None when a limit stopped it, stderr tail, wall seconds)."""
    import signal

    def limit():
        if cpu_limit:
            resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_limit), int(cpu_limit) + 5))

    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        return None, "wall-clock cap", time.perf_counter() - t0
    if p.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return None, "cpu limit", time.perf_counter() - t0
    return p.returncode, p.stderr[-3000:], time.perf_counter() - t0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dbs", nargs="+", default=["f1", "chinook", "movielens"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sdv-cpu", type=float, default=600.0, help="CPU seconds per database for SDV (fit + sample)")
    ap.add_argument("--sdv-cache", default=None, help="folder with SDV outputs (<db>/) of an earlier run; written if missing")
    ap.add_argument("--no-sdv", action="store_true")
    ap.add_argument("--tables", nargs="+", default=None, help="only these tables of each database (a subset SDV can finish)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()

    from relforge import realdata

    here = Path(__file__).resolve().parent
    env = {**os.environ, "PYTHONPATH": str(here.parent / "src"), "PYTHONWARNINGS": "ignore"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in a.dbs:
            src = load_source(name, a.tables)
            rec = dict(rows=src.n_rows, tables=len(src.tables))
            # relforge: fitted (the default) and schema mode (the generic prior, for reference)
            from relforge.db.io import load_database

            for mode, key in (("fitted", "relforge"), ("schema", "relforge_schema_mode")):
                out = Path(tmp, f"rf-{mode}-{name}")
                rc, err, wall = run([sys.executable, __file__, "--relforge-worker", name, str(out), str(a.seed), mode, ",".join(a.tables or [])], env=env)
                if rc != 0:
                    sys.exit(f"relforge ({mode}) failed on {name}: {err}")
                gen = load_database(out / "db")
                rec[key] = dict(json.loads((out / "timing.json").read_text()), process_wall_s=wall, **score(src, gen, a.seed))
            # SDV
            if not a.no_sdv:
                sdir = Path(a.sdv_cache, name) if a.sdv_cache else Path(tmp, f"sdv-{name}")
                if not (sdir / "timing.json").exists() and not (sdir / "timeout.json").exists():
                    exp = Path(tmp, f"export-{name}")
                    export_for_sdv(src, exp)
                    cpu0 = _children_cpu()
                    rc, err, wall = run([str(SDV_PY), __file__, "--sdv-worker", str(exp), str(sdir)],
                                        timeout=6 * a.sdv_cpu, cpu_limit=a.sdv_cpu,
                                        env={**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1",
                                             "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
                    if rc is None:
                        sdir.mkdir(parents=True, exist_ok=True)
                        (sdir / "timeout.json").write_text(json.dumps(dict(limit_s=a.sdv_cpu, why=err, wall_s=wall,
                                                                           cpu_s=_children_cpu() - cpu0)))
                    elif rc != 0:
                        rec["sdv"] = dict(error=err.strip().splitlines()[-1] if err.strip() else f"exit {rc}")
                if (sdir / "timeout.json").exists():
                    to = json.loads((sdir / "timeout.json").read_text())
                    cpu = to.get("cpu_s")
                    used = f", {cpu / 60:.1f} CPU-min used" if cpu else ""
                    if to.get("why") == "cpu limit":
                        msg = f"did not finish in {to['limit_s'] / 60:.0f} CPU-min (fit + sample)"
                    elif to.get("why") == "stopped":
                        msg = f"did not finish ({to['wall_s'] / 60:.0f} min wall{used}): {to.get('note', '')}"
                    else:
                        msg = (f"did not finish: stopped by the wall-clock cap after {to['wall_s'] / 60:.0f} min"
                               f"{used} (shared machine){'; ' + to['note'] if to.get('note') else ''}")
                    rec["sdv"] = dict(did_not_finish=msg, **to)
                elif (sdir / "timing.json").exists():
                    sg = load_sdv_output(src, sdir)
                    rec["sdv"] = dict(json.loads((sdir / "timing.json").read_text()), **score(src, sg, a.seed))
            results[name] = rec
            _print(name, rec)
    summary = dict(bench="like_sdv", seed=a.seed, date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                   machine=f"{os.cpu_count()} CPUs", load=os.getloadavg()[0], results=results)
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


def _print(name: str, rec: dict) -> None:
    def f(x, d=3):
        return "-" if x is None else f"{x:.{d}f}"

    print(f"== {name}: {rec['tables']} tables, {rec['rows']:,} rows")
    for sysname in ("relforge", "relforge_schema_mode", "sdv"):
        r = rec.get(sysname)
        if r is None:
            continue
        if "did_not_finish" in r or "error" in r:
            print(f"  {sysname:8s} {r.get('did_not_finish') or r.get('error')}")
            continue
        p = r["privacy"]
        print(f"  {sysname:8s}\n           column shapes {f(r['column_shapes'])}  cardinality {f(r['cardinality_shapes'])}  "
              f"pair trends {f(r['pair_trends'])}  C2ST mean {f(r['c2st_mean'])}  "
              f"exact match {f(p['exact_match_share'])} (holdout {f(p['holdout_exact_match_share'])})  "
              f"DCR {f(p['dcr_median'])} (vs holdout's reference {f(p.get('dcr_median_vs_rest'))}; "
              f"holdout {f(p['holdout_dcr_median'])})  "
              f"fit {f(r['fit_s'], 1)}s sample {f(r['sample_s'], 1)}s  peak {f(r['peak_rss_mb'], 0)} MB")
        print("           C2ST per table: " + ", ".join(f"{k} {f(v, 2)}" for k, v in r["c2st"].items()))
    sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--sdv-worker":
        sdv_worker(sys.argv[2], sys.argv[3])
    elif len(sys.argv) > 1 and sys.argv[1] == "--relforge-worker":
        relforge_worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), *sys.argv[5:7])
    else:
        main()
