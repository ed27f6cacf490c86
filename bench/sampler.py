#!/usr/bin/env python
"""Tokenization and context sampling: relforge vs relational-transformer 1.10.0, side by side.

For each plurel 1.1.0 database (seeds 0-2 by default, made through the anchor venv's
``plurel_generate.py`` into the bench cache when missing; ``--dbs`` takes any relbench-layout
folders instead):

1. **rt** (anchor): ``../shared/anchors/rt_sampler_bench.py`` run with the anchor venv's python
   (work files in a temporary folder): Rust preprocessing (``rustler_s``: a fresh process per
   repeat, imports done before the clock starts, reads the Parquet files and writes its token files)
   and the Rust sampler's contexts/s in the ``reuse`` malloc regime (its best case), ctx_len 1024,
   bfs width 128, batch 32, single process. It ships two per-token ``[32, 1024, 384]`` bf16 arrays
   per batch. The anchor picks the autocomplete task; relforge samples the same table.column.
2. **relforge tokenization, same scope as ``rustler_s``**: a fresh process per repeat, imports done
   before the clock starts, then ``load_database`` (Parquet -> Database) + ``build_cells`` +
   ``write_store`` of the token arrays (no embeddings, as rt's preprocessing has none) into a
   temporary folder. ``tokenize_ratio`` compares these two cold-process times.
3. **relforge sampling**: ``ContextSampler.batch`` + ``to_torch``, 3 x 50 batches of 32 in this
   process, contexts/s (median of 3), in two output formats:
   ``ctx_per_s`` ids plus small per-batch embedding tables (what relforge's model reads), and
   ``ctx_per_s_vectors`` the same batch plus the two per-token ``[B, S, 384]`` bf16 arrays rt
   ships (column-name vectors gathered per token; text vectors, zeros where a cell has no text).
4. **feed** (optional, ``--feed-steps``): a DataLoader with 2 workers feeding a small RT on
   ``--device``; reports the fraction of the step time spent waiting for the next batch.

The LAST line printed is one JSON object; ``ratio`` = relforge contexts/s (ids format) over rt's,
``vectors_ratio`` = the format-matched one (both with per-token vectors), ``tokenize_ratio`` =
relforge cold read+tokenize+write time over rt's ``rustler_s`` (lower is better); each is a
geometric mean over the databases.

Usage::

    python bench/sampler.py                                   # plurel-0..2 side by side
    python bench/sampler.py --no-anchor --task table_14.feature_12 --feed-steps 20 --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _anchors as A  # noqa: E402


def run_anchor(db: Path, work: Path, args) -> dict:
    """Run the rt anchor bench on ``db``; return its stage, preprocess and sampler lines."""
    cmd = [str(A.anchor_python()), str(A.anchor_script("rt_sampler_bench.py")), "--db", str(db), "--embed", "zeros",
           "--bfs-widths", str(args.width), "--malloc", "reuse", "--ctx-len", str(args.ctx_len),
           "--batch-size", str(args.batch_size), "--num-batches", str(args.num_batches), "--repeats",
           str(args.repeats), "--preprocess-repeats", str(args.repeats), "--work", str(work / f"rt-{db.name}")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    lines = A.json_lines(p.stdout, '"phase"')
    if p.returncode != 0 or not lines:
        raise SystemExit(f"anchor bench failed on {db}: {(p.stderr or p.stdout).strip().splitlines()[-3:]}")
    by = {}
    for ln in lines:
        by.setdefault(ln["phase"], []).append(ln)
    return {"stage": by["stage"][0], "preprocess": by["preprocess"], "sampler": by["sampler"][0], "summary": by["summary"][0]}


def tokenize_child(db_path: str, out: str) -> dict:
    """One cold tokenization in this (fresh) process: imports first, then the timed scope
    Parquet -> Database -> token arrays -> files on disk."""
    from relforge.db.io import load_database
    from relforge.tokenize.cells import build_cells
    from relforge.tokenize.store import write_store

    t0 = time.perf_counter()
    db = load_database(Path(db_path))
    t1 = time.perf_counter()
    cells = build_cells(db)
    t2 = time.perf_counter()
    write_store(cells, Path(out))
    t3 = time.perf_counter()
    return dict(read_s=round(t1 - t0, 4), tokenize_s=round(t2 - t1, 4), write_s=round(t3 - t2, 4),
                total_s=round(t3 - t0, 4), nodes=int(cells.n_nodes), cells=int(cells.n_cells))


def cold_tokenize(db_path: Path, work: Path, repeats: int) -> list[dict]:
    env = dict(os.environ)
    src = str(A.REPO / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    runs = []
    for r in range(repeats):
        out = work / f"tok-{db_path.name}-{r}"
        p = subprocess.run([sys.executable, os.path.abspath(__file__), "--_tokenize-child", str(db_path), str(out)],
                           capture_output=True, text=True, env=env, timeout=600)
        lines = A.json_lines(p.stdout, '"total_s"')
        if p.returncode != 0 or not lines:
            raise SystemExit(f"relforge tokenization failed on {db_path}: {(p.stderr or p.stdout).strip().splitlines()[-3:]}")
        runs.append(lines[-1])
        shutil.rmtree(out, ignore_errors=True)
    return runs


def _gather_bf16(emb, ids):
    """``emb[ids]`` as a ``[B, S, D]`` bf16 array, zeros where ``ids`` is -1 (padding, no text).
    The gather runs on the bf16 bits viewed as int16: torch's bf16 ``index_select`` on CPU is
    ~15x slower than the integer one, and the bytes are the same."""
    import torch

    B, S = ids.shape
    D = emb.shape[1]
    table = torch.cat([emb.to(torch.bfloat16), torch.zeros(1, D, dtype=torch.bfloat16)])
    idx = torch.where(ids >= 0, ids, emb.shape[0]).reshape(-1).long()
    return table.view(torch.int16).index_select(0, idx).view(torch.bfloat16).view(B, S, D)


def per_token_vectors(batch: dict):
    """The two per-token ``[B, S, D]`` bf16 arrays rt ships (column-name vectors, text vectors),
    from relforge's ids and per-batch tables."""
    return _gather_bf16(batch["col_emb"], batch["col_id"]), _gather_bf16(batch["text_emb"], batch["text_id"])


def _rates(s, args, vectors: bool) -> list[float]:
    from relforge.tokenize.dataset import to_torch

    nb = s.num_batches
    runs = []
    for r in range(args.repeats):
        prev = None
        t0 = time.perf_counter()
        for i in range(args.num_batches):
            k = r * args.num_batches + i
            prev = to_torch(s.batch(k % nb, epoch=k // nb))
            if vectors:
                prev = (prev, per_token_vectors(prev))
        dt = time.perf_counter() - t0
        del prev
        runs.append(args.num_batches * args.batch_size / dt)
    return runs


def bench_relforge(db_path: Path, task: str, work: Path, args) -> dict:
    import relforge
    from relforge.tokenize import ContextSampler, SamplerConfig, build_cells, embed_store
    from relforge.tokenize.dataset import to_torch
    from relforge.tokenize.embed import HashingEmbedder, minilm_available

    cold = cold_tokenize(db_path, work, args.repeats)
    med = lambda k: round(statistics.median(r[k] for r in cold), 4)  # noqa: E731
    db = relforge.load(db_path)
    cells = build_cells(db)
    hash_s = statistics.median([_timed(lambda: embed_store(cells, HashingEmbedder())) for _ in range(args.repeats)])
    out = dict(db=db_path.name, task=task, nodes=cells.n_nodes, cells=cells.n_cells, texts=len(cells.get_texts()),
               cold_total_s=med("total_s"), cold_read_s=med("read_s"), cold_tokenize_s=med("tokenize_s"),
               cold_write_s=med("write_s"), cold_runs=cold, embed_hash_s=round(hash_s, 4))
    if minilm_available() and not args.no_minilm:
        from relforge.tokenize.embed import MiniLMEmbedder

        t0 = time.perf_counter()
        emb = MiniLMEmbedder()
        t1 = time.perf_counter()
        embed_store(cells, emb)
        out.update(minilm_load_s=round(t1 - t0, 3), embed_minilm_s=round(time.perf_counter() - t1, 3))
    store = embed_store(cells, HashingEmbedder())  # embedding values do not affect sampling speed
    cfg = SamplerConfig(ctx_len=args.ctx_len, max_bfs_width=args.width, batch_size=args.batch_size, seed=0)
    t0 = time.perf_counter()
    s = ContextSampler([(store, task, "train")], cfg)
    out["sampler_init_s"] = round(time.perf_counter() - t0, 4)
    to_torch(s.batch(0))  # JIT warm-up (numba cache)
    ids = _rates(s, args, vectors=False)
    vec = _rates(s, args, vectors=True)
    b = s.batch(0)
    real = ~b["is_padding"]
    out.update(ctx_per_s=round(statistics.median(ids), 1), ctx_per_s_runs=[round(x, 1) for x in ids],
               ctx_per_s_vectors=round(statistics.median(vec), 1), ctx_per_s_vectors_runs=[round(x, 1) for x in vec],
               ms_per_batch=round(1000 * args.batch_size / statistics.median(ids), 2),
               mean_nonpad_tokens=round(float(real.sum(1).mean()), 1), mean_rows=round(float(b["n_rows"].mean()), 1),
               n_seeds=s.n_items)
    return out


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def summarize(rows: list[dict]) -> dict:
    """Per-database and geometric-mean ratios from the per-database records (``rt`` and
    ``relforge`` parts); None where the rt side is missing."""
    out = {"dbs": [r["db"] for r in rows],
           "relforge_ctx_per_s": {r["db"]: r["relforge"]["ctx_per_s"] for r in rows},
           "relforge_ctx_per_s_vectors": {r["db"]: r["relforge"]["ctx_per_s_vectors"] for r in rows},
           "relforge_cold_tokenize_total_s": {r["db"]: r["relforge"]["cold_total_s"] for r in rows}}
    if not rows or any("rt" not in r for r in rows):
        return {**out, "ratio": None, "vectors_ratio": None, "tokenize_ratio": None}
    per = {}
    for key, ours, theirs in (("ratio", "ctx_per_s", "ctx_per_s"), ("vectors_ratio", "ctx_per_s_vectors", "ctx_per_s")):
        per[key] = {r["db"]: A.ratio(r["relforge"][ours], r["rt"][theirs]) for r in rows}
    per["tokenize_ratio"] = {r["db"]: A.ratio(r["relforge"]["cold_total_s"], r["rt"]["rustler_s"]) for r in rows}
    out.update(rt_ctx_per_s={r["db"]: r["rt"]["ctx_per_s"] for r in rows},
               rt_rustler_s={r["db"]: r["rt"]["rustler_s"] for r in rows})
    for key, d in per.items():
        out[f"{key}_per_db"] = {k: A.rounded(v, 3) for k, v in d.items()}
        out[key] = A.rounded(A.geomean(list(d.values())), 3)
    return out


def bench_feed(store_path: str, task: str, args) -> dict:
    """Fraction of a training step spent waiting for data: DataLoader(2 workers) -> small RT."""
    import torch

    from relforge.model.config import preset
    from relforge.model.rt import RelationalTransformer
    from relforge.tokenize import ContextSampler, SamplerConfig, open_store
    from relforge.tokenize.dataset import make_loader

    dev = torch.device(args.device)
    st = open_store(store_path)
    cfg = SamplerConfig(ctx_len=args.ctx_len, max_bfs_width=args.width, batch_size=args.feed_batch_size, seed=0)
    s = ContextSampler([(st, task, "train")], cfg)
    s.batch(0)  # compile the numba kernels once (cached on disk; forked workers inherit them)
    model = RelationalTransformer(preset(args.feed_preset, d_text=st.d_text)).to(dev)
    opt = model.configure_optimizers(1e-4, 0.1, device_type=dev.type)
    loader = make_loader(s, num_workers=args.feed_workers, steps=args.feed_steps + args.feed_warmup)
    it = iter(loader)
    waits, steps = [], []
    for i in range(args.feed_steps + args.feed_warmup):
        t0 = time.perf_counter()
        batch = next(it)
        batch = {k: (v.to(dev, non_blocking=True) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        t1 = time.perf_counter()
        _, loss = model(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if i >= args.feed_warmup:
            waits.append(t1 - t0)
            steps.append(t2 - t0)
    return dict(device=str(dev), gpu=torch.cuda.get_device_name(0) if dev.type == "cuda" else None,
                preset=args.feed_preset, params=model.get_num_params(), batch_size=args.feed_batch_size,
                workers=args.feed_workers, steps=len(steps), step_s_median=round(statistics.median(steps), 4),
                wait_s_median=round(statistics.median(waits), 4),
                wait_frac=round(sum(waits) / sum(steps), 4), torch_threads=torch.get_num_threads())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dbs", nargs="*", default=None, help="database folders (default: plurel seeds --seeds, "
                    "made into the bench cache when missing)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="plurel seeds (without --dbs)")
    ap.add_argument("--ctx-len", type=int, default=1024)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--num-batches", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-anchor", action="store_true", help="skip the rt side (no anchor venv)")
    ap.add_argument("--task", default=None, help="table.column (default: the anchor's pick, or given)")
    ap.add_argument("--no-minilm", action="store_true")
    ap.add_argument("--feed-steps", type=int, default=0, help="training steps of the DataLoader feed test (0: skip)")
    ap.add_argument("--feed-warmup", type=int, default=3)
    ap.add_argument("--feed-preset", default="small")
    ap.add_argument("--feed-batch-size", type=int, default=32)
    ap.add_argument("--feed-workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--store", default=None, help="feed test: an existing store (default: tokenize the first DB)")
    ap.add_argument("--feed-task", default=None)
    ap.add_argument("--out", default=None, help="also write every record and the summary to this JSON file")
    ap.add_argument("--_tokenize-child", nargs=2, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._tokenize_child:
        print(json.dumps(tokenize_child(*args._tokenize_child)), flush=True)
        return
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    head = {"bench": "sampler", **A.machine(), "ctx_len": args.ctx_len, "max_bfs_width": args.width,
            "batch_size": args.batch_size}
    dbs = [Path(d) for d in args.dbs] if args.dbs else A.plurel_dbs(args.seeds)
    work = A.scratch("bench-sampler")

    rows = []
    try:
        for db in dbs:
            rec = {"db": db.name}
            task = args.task
            if not args.no_anchor:
                a = run_anchor(db, work, args)
                task = task or f"{a['stage']['table']}.{a['stage']['column']}"
                rec["rt"] = dict(task=f"{a['stage']['table']}.{a['stage']['column']}",
                                 rustler_s=a["summary"]["rustler_s_median"],
                                 rustler_s_runs=[r.get("rustler_s") for r in a["preprocess"]],
                                 ctx_per_s=a["sampler"]["ctx_per_s"], ctx_per_s_runs=a["sampler"]["ctx_per_s_runs"],
                                 malloc="reuse", mean_nonpad_tokens=a["sampler"]["mean_nonpad_tokens"],
                                 num_items=a["sampler"]["num_items"], load=A.load_average())
                print(json.dumps({"phase": "rt", "db": db.name, **rec["rt"]}), flush=True)
            if task is None:
                raise SystemExit("--task is required with --no-anchor")
            rec["relforge"] = bench_relforge(db, task, work, args)
            rec["relforge"]["load"] = A.load_average()
            print(json.dumps({"phase": "relforge", **rec["relforge"]}), flush=True)
            rows.append(rec)
        feed = None
        if args.feed_steps > 0:
            store = args.store
            if store is None:
                from relforge.tokenize.pipeline import tokenize_source

                store = str(work / "feed-store")
                tokenize_source(dbs[0], store, embedder="hash")
            feed = bench_feed(store, args.feed_task or rows[0]["relforge"]["task"], args)
            print(json.dumps({"phase": "feed", **feed}), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = {"phase": "summary", **head, **summarize(rows), "load_end": A.load_average()}
    if feed is not None:
        summary["feed_wait_frac"] = feed["wait_frac"]
        summary["feed"] = feed
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"records": rows, "summary": summary}, indent=1) + "\n")
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())
