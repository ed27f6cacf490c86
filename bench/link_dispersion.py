"""Link dispersion of stage 2: child-count variance-to-mean ratio (VMR) per foreign key.

Draws ``--seeds`` default-config schemas (stage 1) and their links (stage 2, with stage-1/row
timestamps as the pipeline uses them), computes the VMR of every link with
``relforge.metrics.dispersion`` over ``np.bincount`` of the non-null parent positions, and prints a
markdown table of its quantiles next to real Formula 1 (computed here from ``results.csv``) and
plurel 1.1.0 (1.0-2.6 as quoted in the issue). The last line is JSON.

    .venv/bin/python bench/link_dispersion.py --seeds 100
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from relforge.generate.config import GeneratorConfig
from relforge.generate.links import sample_links
from relforge.generate.schema import sample_schema
from relforge.generate.timeline import sample_times
from relforge.metrics import dispersion
from relforge.rng import child
from relforge.settings import data_dir


def corpus_vmrs(n_seeds: int, cfg: GeneratorConfig) -> np.ndarray:
    vmrs = []
    for seed in range(n_seeds):
        schema = sample_schema(cfg, rng=child(seed, "schema"))
        times = sample_times(schema, cfg.post, seed=seed)
        links = sample_links(schema, cfg.links, seed=seed, times=times)
        for (table, col), fk in links.items():
            fkdef = next(f for f in schema.tables[table].fkeys if f.column == col)
            n_parent = schema.tables[fkdef.parent].n_rows
            v = dispersion(np.bincount(fk[fk >= 0], minlength=n_parent))
            if np.isfinite(v):
                vmrs.append(v)
    return np.asarray(vmrs)


def f1_vmrs() -> dict[str, float]:
    root = data_dir() / "f1"
    res = pd.read_csv(root / "results.csv")
    out = {}
    for parent, key in [("drivers", "driverId"), ("constructors", "constructorId")]:
        pk = pd.read_csv(root / f"{parent}.csv")[key]
        codes = pd.Index(pk).get_indexer(res[key])
        out[f"{parent}->results"] = dispersion(np.bincount(codes[codes >= 0], minlength=len(pk)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    args = ap.parse_args()
    t0 = time.perf_counter()
    v = corpus_vmrs(args.seeds, GeneratorConfig())
    secs = time.perf_counter() - t0
    qs = [0.0, 0.1, 0.5, 0.9, 1.0]
    q = np.quantile(v, qs)
    f1 = f1_vmrs()
    print("| source | links | min | 10% | median | 90% | max |")
    print("|---|---|---|---|---|---|---|")
    print(f"| relforge defaults, {args.seeds} seeds | {len(v)} | " + " | ".join(f"{x:.1f}" for x in q) + " |")
    print("| plurel 1.1.0 (as quoted in the issue) | | 1.0 | | | | 2.6 |")
    for k, x in f1.items():
        print(f"| real F1 {k} | 1 | | | {x:.1f} | | |")
    share = {t: float((v > t).mean()) for t in (2, 10, 100, 671)}
    print(json.dumps({"bench": "link_dispersion", "seeds": args.seeds, "links": int(len(v)),
                      "quantiles": dict(zip(["min", "p10", "median", "p90", "max"], map(float, q))),
                      "share_above": share, "f1": f1, "seconds": round(secs, 2)}))


if __name__ == "__main__":
    main()
