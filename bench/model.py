#!/usr/bin/env python
"""Training-step throughput of relforge's RT vs relational-transformer 1.10.0 on this CPU.

Both sides get a **context-sampler batch from the same plurel database** (plurel 1.1.0 seed 0, made
through the anchor venv when missing) and the same autocomplete task (the rt anchor's pick: the
float column with the fewest nulls in the largest table), batch 4 x 1024 tokens, max BFS width 128,
float32, 2 torch threads, forward + backward + AdamW (lr 1e-4, wd 0.1):

- **rt 1.10.0** (anchor): ``../shared/anchors/rt_sampler_bench.py`` preprocesses the database
  (``--embed zeros``: embedding values do not change the dense math) into a scratch folder, then
  ``rt_model_bench.py --modes sdpa_train --dtypes float32 --pre-dir <that>`` runs the package's
  model with its masks materialised and fed to dense SDPA (the only way rt trains on CPU) on a
  batch of rt's Rust sampler: one target cell per context (rt's objective).
- **relforge**: the same database tokenized into a store (hashing embedder), a batch of relforge's
  ``ContextSampler``, then one of three steps, each in a fresh child process:

  ``real``   what ``relforge train`` runs: ``add_masks(batch, --mask-rate)`` (default 0.3, the
             training default) and ``model(batch, targets_only=True)``. With ~30 % of the cells
             as targets, the rows the targets read are most of the context: the last block's
             attention runs on every token, its FFN, the output norm and the decoders on the
             targets only. **``ratio`` is this figure.**
  ``pruned`` one target per context (mask rate 0, rt's objective): ``targets_only`` prunes the last
             block to the target cells and the rows they read.
  ``full``   ``model(batch)``: every cell predicted (no pruning), mask rate as ``real``.

Architecture: relational-transformer 1.10.0 gates its attention output (``wg``). When relforge's
``RTConfig`` has a gate option (a field whose name contains ``gate``), the **matched** figures use
it on and an ablation row times ``real`` with it off (``gate_free``); without the option only the
gate-free figures exist and the summary says the architecture is not matched (``matched: false``).

Each figure is the median of ``--steps`` steps after ``--warmup``; tokens/s counts all B x S
positions (non-padding counts are reported too); peak RSS is the child process's. The LAST line
printed is one JSON object; ``ratio`` = the smallest over configs of relforge ``real`` tokens/s over
rt tokens/s (matched architecture when available).

Usage: python bench/model.py [--models paper small] [--steps 3] [--mask-rate 0.3] [--src DIR] [--out FILE]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _anchors as A  # noqa: E402

STEPS = ("real", "pruned", "full")


# ---------------------------------------------------------------- relforge child


def gate_field() -> str | None:
    """The name of RTConfig's attention-gate option, or None while relforge has none."""
    from relforge.model.config import RTConfig

    names = [f.name for f in dataclasses.fields(RTConfig) if "gate" in f.name]
    return names[0] if names else None


def gate_field_of(src: str | None) -> str | None:
    """:func:`gate_field` of the source tree the children will import (``--src`` or this repo)."""
    if not src:
        return gate_field()
    code = ("import dataclasses; from relforge.model.config import RTConfig; "
            "print([f.name for f in dataclasses.fields(RTConfig) if 'gate' in f.name])")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(Path(src).resolve())))
    names = json.loads(p.stdout.strip().replace("'", '"') or "[]")
    return names[0] if names else None


def sampler_batch(store: str, task: str, batch_size: int, ctx_len: int, width: int):
    from relforge.tokenize import ContextSampler, SamplerConfig, open_store
    from relforge.tokenize.dataset import to_torch

    st = open_store(store)
    cfg = SamplerConfig(ctx_len=ctx_len, max_bfs_width=width, batch_size=batch_size, seed=0)
    return to_torch(ContextSampler([(st, task, "train")], cfg).batch(0)), st.d_text


def train_steps(model, opt, batch, rate: float, targets_only: bool, n: int, clock=time.perf_counter):
    """``n`` training steps on ``batch`` (masks drawn from (seed 0, step), as the training loop does);
    returns per-step ``clock`` seconds (forward, backward, optimizer), losses and target counts."""
    from relforge.train.masking import add_masks

    times, losses, n_targets = [], [], []
    for step in range(n):
        b = add_masks(batch, rate, 0, step)
        t = clock()
        _, loss = model(b, targets_only=targets_only)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(clock() - t)
        losses.append(float(loss.detach()))
        n_targets.append(int(b["is_target"].sum()))
    return times, losses, n_targets


def child(args) -> dict:
    """One relforge run (model ``args.child``, step kind ``args.kind``) in this process."""
    import torch

    torch.set_num_threads(args.threads)
    from relforge.model.config import preset
    from relforge.model.rt import RelationalTransformer

    batch, d_text = sampler_batch(args.store, args.task, args.batch_size, args.ctx_len, args.width)
    over = {"d_text": d_text, "attention": "sparse"}
    gate = gate_field()
    if gate is not None:
        over[gate] = bool(args.gate)
    elif args.gate:
        raise SystemExit("relforge's RTConfig has no attention-gate option")
    cfg = preset(args.child, **over)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = RelationalTransformer(cfg)
    opt = model.configure_optimizers(lr=1e-4, weight_decay=0.1)
    rate = 0.0 if args.kind == "pruned" else args.mask_rate
    targets_only = args.kind != "full"
    times, losses, n_targets = train_steps(model, opt, batch, rate, targets_only, args.warmup + args.steps)
    med = statistics.median(times[args.warmup:])
    ntok = batch["node_idx"].numel()
    nonpad = int((~batch["is_padding"]).sum())
    return {"impl": "relforge", "model": args.child, "kind": args.kind, "gate": gate is not None and bool(args.gate),
            "attention": model.attention_impl(torch.device("cpu")), "params": model.get_num_params(),
            "mask_rate": rate, "targets_only": targets_only, "targets_per_step": n_targets[-1],
            "batch": f"sampler:{Path(args.store).name}/{args.task}", "batch_size": args.batch_size,
            "ctx_len": args.ctx_len, "nonpad_tokens": nonpad, "threads": torch.get_num_threads(),
            "first_step_s": round(times[0], 3), "step_s": round(med, 3),
            "step_s_runs": [round(x, 3) for x in times[args.warmup:]], "tokens_per_s": round(ntok / med, 1),
            "nonpad_tokens_per_s": round(nonpad / med, 1),
            "loss_first": round(losses[0], 5), "loss_last": round(losses[-1], 5),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


# ---------------------------------------------------------------- parent side


def _run_json(cmd, base: dict, timeout: float, key: str, cwd=None) -> dict:
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "error": f"timeout after {timeout}s"}
    lines = [r for r in A.json_lines(p.stdout, key) if "phase" not in r]
    if not lines:
        return {**base, "status": "error", "error": " | ".join((p.stderr or p.stdout).strip().splitlines()[-3:])}
    return lines[-1]


def _env(args) -> dict:
    """The children's environment: the relforge source tree (``--src`` or this repo's src/) first."""
    env = dict(os.environ)
    src = str(Path(args.src).resolve()) if args.src else str(A.REPO / "src")
    env["PYTHONPATH"] = src + os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else src
    return env


def run_relforge(model: str, kind: str, gate: bool, prep: dict, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", model, "--kind", kind, "--store", prep["store"],
           "--task", prep["task"], "--threads", str(args.threads), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--ctx-len", str(args.ctx_len),
           "--width", str(args.width), "--mask-rate", str(args.mask_rate)] + (["--gate"] if gate else [])
    env = _env(args)
    base = {"impl": "relforge", "model": model, "kind": kind, "gate": gate}
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        return {**base, "status": "error", "error": f"timeout after {args.timeout}s"}
    lines = A.json_lines(p.stdout, '"impl"')
    if not lines:
        return {**base, "status": "error", "error": " | ".join((p.stderr or p.stdout).strip().splitlines()[-3:])}
    return lines[-1]


def run_anchor(model: str, prep: dict, args) -> dict:
    cmd = [str(A.anchor_python()), str(A.anchor_script("rt_model_bench.py")), "--models", model,
           "--dtypes", "float32", "--modes", "sdpa_train", "--threads", str(args.threads), "--steps", str(args.steps),
           "--warmup", str(args.warmup), "--batch-size", str(args.batch_size), "--ctx-len", str(args.ctx_len),
           "--bfs-width", str(args.width), "--pre-dir", prep["rt_pre"], "--db-name", prep["rt_db"],
           "--task", prep["rt_task"]]
    rec = _run_json(cmd, {"impl": "rt-1.10.0", "model": model}, args.timeout, '"model"',
                    cwd=str(A.anchors_dir()))
    rec["impl"] = "rt-1.10.0"
    return rec


def prepare(args) -> dict:
    """The plurel database (made when missing), rt's preprocessed copy and relforge's store."""
    (db,) = A.plurel_dbs([args.seed], args.dbs_dir)
    work = A.scratch("bench-model")
    out = {"db": str(db), "work": str(work)}
    if not args.no_anchor:
        cmd = [str(A.anchor_python()), str(A.anchor_script("rt_sampler_bench.py")), "--db", str(db),
               "--work", str(work / "rt"), "--embed", "zeros", "--bfs-widths", str(args.width), "--malloc", "reuse",
               "--ctx-len", str(args.ctx_len), "--batch-size", str(args.batch_size), "--num-batches", "1",
               "--warmup", "0", "--repeats", "1", "--preprocess-repeats", "1"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
        recs = {r.get("phase"): r for r in A.json_lines(p.stdout, '"phase"')}
        if p.returncode != 0 or "stage" not in recs:
            raise A.BenchSetupError(f"rt preprocessing failed: {(p.stderr or p.stdout).strip().splitlines()[-3:]}")
        st = recs["stage"]
        out.update(rt_pre=str(work / "rt" / "pre"), rt_db=st["db_name"], rt_task=st["task"],
                   task=f"{st['table']}.{st['column']}")
    else:
        out["task"] = args.task
    if not out.get("task"):
        raise SystemExit("--task table.column is required with --no-anchor")
    # tokenized by the source tree the children import (``--src``), so the store format matches
    code = "import sys; from relforge.tokenize.pipeline import tokenize_source as t; t(sys.argv[1], sys.argv[2], embedder='hash')"
    p = subprocess.run([sys.executable, "-c", code, str(db), str(work / db.name)], capture_output=True, text=True,
                       env=_env(args))
    if p.returncode != 0:
        raise A.BenchSetupError(f"relforge tokenization failed: {(p.stderr or p.stdout).strip().splitlines()[-3:]}")
    out["store"] = str(work / db.name)
    return out


def summarize(records: list[dict], models: list[str], gate_available: bool) -> dict:
    """Per-config tokens/s and ratios (relforge over rt) from the child records; ``ratio`` is the
    smallest per-config ratio of the real training step at the matched architecture (the gated one
    when relforge has the gate option, else gate-free with ``matched`` false)."""
    def find(impl, model, kind=None, gate=None):
        for r in records:
            if r.get("impl", "").startswith(impl) and r.get("model") == model and (kind is None or r.get("kind") == kind) \
                    and (gate is None or bool(r.get("gate")) == gate):
                return r
        return {}

    out, heads = {}, []
    for m in models:
        rt = find("rt", m)
        rt_tps = rt.get("tokens_per_s")
        s = {"rt_tokens_per_s": rt_tps, "rt_params": rt.get("params"), "rt_peak_rss_mb": rt.get("peak_rss_mb")}
        for kind in STEPS:
            r = find("relforge", m, kind, gate_available)
            s[f"{kind}_tokens_per_s"] = r.get("tokens_per_s")
            s[f"{kind}_ratio"] = A.rounded(A.ratio(r.get("tokens_per_s"), rt_tps), 3)
            if kind == "real":
                s["params"] = r.get("params")
                s["peak_rss_mb"] = r.get("peak_rss_mb")
                s["memory_ratio"] = A.rounded(A.ratio(r.get("peak_rss_mb"), rt.get("peak_rss_mb")), 3)
        if gate_available:
            g = find("relforge", m, "real", False)
            s["gate_free_real_tokens_per_s"] = g.get("tokens_per_s")
            s["gate_free_real_ratio"] = A.rounded(A.ratio(g.get("tokens_per_s"), rt_tps), 3)
            s["gate_free_params"] = g.get("params")
        s["ratio"] = s["real_ratio"]
        out[m] = s
        if s["ratio"] is not None:
            heads.append(s["ratio"])
    out["ratio"] = min(heads) if heads else None
    out["matched"] = gate_available
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["paper", "small"], choices=["paper", "small", "tiny"])
    ap.add_argument("--kinds", nargs="+", default=list(STEPS), choices=STEPS, help="relforge steps to time")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--ctx-len", type=int, default=1024)
    ap.add_argument("--width", type=int, default=128, help="max BFS width of both samplers")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mask-rate", type=float, default=0.3, help="extra masked cells, as `relforge train --mask-rate`")
    ap.add_argument("--seed", type=int, default=0, help="plurel seed of the database")
    ap.add_argument("--dbs-dir", default=None, help="folder of plurel-<seed> databases (default: the bench cache)")
    ap.add_argument("--no-anchor", action="store_true", help="only time relforge (needs --task)")
    ap.add_argument("--task", default=None, help="table.column (default: the rt anchor's pick)")
    ap.add_argument("--out", default=None, help="also write every record and the summary to this JSON file")
    ap.add_argument("--src", default=None, help="relforge source tree to time (default: this repository's src/)")
    ap.add_argument("--timeout", type=float, default=1200)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--kind", default="real", choices=STEPS, help=argparse.SUPPRESS)
    ap.add_argument("--store", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--gate", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)), flush=True)
        return 0

    head = {"bench": "model", **A.machine(), "batch_size": args.batch_size, "ctx_len": args.ctx_len,
            "dtype": "float32", "threads": args.threads, "mask_rate": args.mask_rate}
    prep = prepare(args)
    gate = gate_field_of(args.src)
    head.update(db=Path(prep["db"]).name, task=prep["task"], gate_option=gate, src=args.src or "src")
    print(json.dumps({"phase": "setup", **head, "work": prep["work"]}), flush=True)
    records = []
    for m in args.models:
        if not args.no_anchor and m != "tiny":
            rec = run_anchor(m, prep, args)
            rec["load"] = A.load_average()
            records.append(rec)
            print(json.dumps(rec), flush=True)
        runs = [(k, gate is not None) for k in args.kinds] + ([("real", False)] if gate is not None else [])
        for kind, g in runs:
            rec = run_relforge(m, kind, g, prep, args)
            rec["load"] = A.load_average()
            records.append(rec)
            print(json.dumps(rec), flush=True)
    summary = {**head, **summarize(records, args.models, gate is not None), "load_end": A.load_average()}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"records": records, "summary": summary}, indent=1) + "\n")
    shutil.rmtree(prep["work"], ignore_errors=True)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
