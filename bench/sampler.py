#!/usr/bin/env python
"""Tokenization and context sampling: relforge vs relational-transformer 1.10.0, side by side.

For each database (relbench layout, e.g. plurel DBs written by
``/work/shared/anchors/plurel_generate.py --out /tmp/relforge-anchors/dbs``):

1. **rt** (anchor, optional): ``/work/shared/anchors/rt_sampler_bench.py`` run with the anchor venv's
   python: Rust preprocessing (``rustler_s``) and the Rust sampler's contexts/s in the ``reuse``
   malloc regime (its best case), ctx_len 1024, bfs width 128, batch 32, single process. The anchor
   picks the autocomplete task (largest table with a float feature; fewest nulls); relforge then
   samples the *same* table.column.
2. **relforge**: ``relforge.load`` (parquet -> Database, reported separately), ``build_cells``
   (tokenization, the figure compared with ``rustler_s``), embeddings (hashing and MiniLM, reported
   separately), then ``ContextSampler.batch`` + ``to_torch`` for 3 x 50 batches of 32 in this
   process: contexts/s (median of 3). Our batches ship column/text ids plus small embedding tables,
   not per-token 384-d vectors.
3. **feed** (optional, ``--feed-steps``): a DataLoader with 2 workers feeding a small RT
   (``relforge.model.rt``, preset ``--feed-preset``) on ``--device``; reports the fraction of the
   step time spent waiting for the next batch.

The LAST line printed is one JSON object with the figures; ``ratio`` = relforge contexts/s over rt
contexts/s (geometric mean over databases; higher is better), ``tokenize_ratio`` = relforge
tokenization time over rt preprocessing time (lower is better).

Usage::

    python bench/sampler.py                                   # plurel-0..2 side by side (~4 min)
    python bench/sampler.py --no-anchor --feed-steps 20 --device cuda --store build/relforge-e/plurel-0
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ANCHOR_PY = Path("~/.cache/relforge-anchors/venv/bin/python").expanduser()
ANCHOR_BENCH = Path("/work/shared/anchors/rt_sampler_bench.py")


def run_anchor(db: Path, args) -> dict:
    """Run the rt anchor bench on ``db``; return its stage, preprocess and sampler lines."""
    cmd = [str(ANCHOR_PY), str(ANCHOR_BENCH), "--db", str(db), "--embed", "zeros", "--bfs-widths", str(args.width),
           "--malloc", "reuse", "--ctx-len", str(args.ctx_len), "--batch-size", str(args.batch_size),
           "--num-batches", str(args.num_batches), "--repeats", str(args.repeats),
           "--preprocess-repeats", str(args.repeats), "--work", f"/tmp/relforge-bench-rt/{db.name}"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    lines = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        raise SystemExit(f"anchor bench failed on {db}: {(p.stderr or p.stdout).strip().splitlines()[-3:]}")
    by = {}
    for ln in lines:
        by.setdefault(ln["phase"], []).append(ln)
    return {"stage": by["stage"][0], "preprocess": by["preprocess"], "sampler": by["sampler"][0], "summary": by["summary"][0]}


def _median_time(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def bench_relforge(db_path: Path, task: str, args) -> dict:
    import relforge
    from relforge.tokenize import ContextSampler, SamplerConfig, build_cells, embed_store
    from relforge.tokenize.dataset import to_torch
    from relforge.tokenize.embed import HashingEmbedder, minilm_available

    load_s = _median_time(lambda: relforge.load(db_path), args.repeats)
    db = relforge.load(db_path)
    build_cells(db)  # warm-up (imports, first-call overheads)
    tok_s = _median_time(lambda: build_cells(db), args.repeats)
    cells = build_cells(db)
    hash_s = _median_time(lambda: embed_store(cells, HashingEmbedder()), 1)
    out = dict(db=db_path.name, task=task, nodes=cells.n_nodes, cells=cells.n_cells, texts=len(cells.get_texts()),
               load_s=round(load_s, 4), tokenize_s=round(tok_s, 4), embed_hash_s=round(hash_s, 4))
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
    nb = s.num_batches
    runs = []
    for r in range(args.repeats):
        prev = None
        t0 = time.perf_counter()
        for i in range(args.num_batches):
            prev = to_torch(s.batch((r * args.num_batches + i) % nb, epoch=(r * args.num_batches + i) // nb))
        dt = time.perf_counter() - t0
        del prev
        runs.append(args.num_batches * args.batch_size / dt)
    b = s.batch(0)
    real = ~b["is_padding"]
    out.update(ctx_per_s=round(statistics.median(runs), 1), ctx_per_s_runs=[round(x, 1) for x in runs],
               ms_per_batch=round(1000 * args.batch_size / statistics.median(runs), 2),
               mean_nonpad_tokens=round(float(real.sum(1).mean()), 1), mean_rows=round(float(b["n_rows"].mean()), 1),
               n_seeds=s.n_items)
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
    ap.add_argument("--dbs", nargs="*", default=[f"/tmp/relforge-anchors/dbs/plurel-{s}" for s in range(3)])
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
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    rows = []
    for db in map(Path, args.dbs):
        rec = {"db": db.name}
        task = args.task
        if not args.no_anchor:
            a = run_anchor(db, args)
            task = task or f"{a['stage']['table']}.{a['stage']['column']}"
            rec["rt"] = dict(task=f"{a['stage']['table']}.{a['stage']['column']}",
                             rustler_s=a["summary"]["rustler_s_median"], ctx_per_s=a["sampler"]["ctx_per_s"],
                             ctx_per_s_runs=a["sampler"]["ctx_per_s_runs"], malloc="reuse",
                             mean_nonpad_tokens=a["sampler"]["mean_nonpad_tokens"], num_items=a["sampler"]["num_items"])
            print(json.dumps({"phase": "rt", "db": db.name, **rec["rt"]}), flush=True)
        if task is None:
            raise SystemExit("--task is required with --no-anchor")
        rec["relforge"] = bench_relforge(db, task, args)
        print(json.dumps({"phase": "relforge", **rec["relforge"]}), flush=True)
        rows.append(rec)
    feed = None
    if args.feed_steps > 0:
        store = args.store
        if store is None:
            import tempfile

            from relforge.tokenize.pipeline import tokenize_source

            store = tempfile.mkdtemp(prefix="relforge-feed-") + "/s"
            tokenize_source(args.dbs[0], store, embedder="hash")
        feed = bench_feed(store, args.feed_task or rows[0]["relforge"]["task"], args)
        print(json.dumps({"phase": "feed", **feed}), flush=True)

    summary = {"phase": "summary", "ctx_len": args.ctx_len, "max_bfs_width": args.width, "batch_size": args.batch_size,
               "dbs": [r["db"] for r in rows],
               "relforge_ctx_per_s": {r["db"]: r["relforge"]["ctx_per_s"] for r in rows},
               "relforge_tokenize_s": {r["db"]: r["relforge"]["tokenize_s"] for r in rows},
               "relforge_load_s": {r["db"]: r["relforge"]["load_s"] for r in rows},
               "relforge_embed_minilm_s": {r["db"]: r["relforge"].get("embed_minilm_s") for r in rows}}
    if rows and "rt" in rows[0]:
        ratios = [r["relforge"]["ctx_per_s"] / r["rt"]["ctx_per_s"] for r in rows]
        tratios = [r["relforge"]["tokenize_s"] / r["rt"]["rustler_s"] for r in rows]
        gm = lambda xs: float(__import__("math").exp(sum(map(__import__("math").log, xs)) / len(xs)))  # noqa: E731
        summary.update(rt_ctx_per_s={r["db"]: r["rt"]["ctx_per_s"] for r in rows},
                       rt_rustler_s={r["db"]: r["rt"]["rustler_s"] for r in rows},
                       ratio_per_db={r["db"]: round(x, 3) for r, x in zip(rows, ratios)},
                       tokenize_ratio_per_db={r["db"]: round(x, 3) for r, x in zip(rows, tratios)},
                       ratio=round(gm(ratios), 3), tokenize_ratio=round(gm(tratios), 3))
    else:
        summary["ratio"] = None
    if feed is not None:
        summary["feed_wait_frac"] = feed["wait_frac"]
        summary["feed"] = feed
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())
