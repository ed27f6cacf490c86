#!/usr/bin/env python
"""RT training throughput on one CUDA GPU: ``paper`` preset, bf16 autocast, flex attention.

Self-contained: a synthetic relational batch (``relforge.model.testing.synthetic_batch``; no data
files), forward + backward + AdamW (fused) per step. Reports tokens/s (all B x S positions), peak
GPU memory, and a correctness check of the flex path against the dense-mask reference on a small
batch in float32. Every phase is guarded: an error is reported in the JSON, never a traceback
only. Prints ONE JSON line (the last line). Finishes in well under 3 minutes on an H100.

``--dry-run`` runs the same code path on CPU with the ``tiny`` preset, one step and the sparse
attention (flex has no CPU backward), to check the script itself.

Usage: python bench/gpu_model.py [--batch-size 32] [--ctx-len 1024] [--steps 10] [--dry-run]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import traceback


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--ctx-len", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--attention", default="flex", choices=["flex", "sparse", "dense"])
    ap.add_argument("--dry-run", action="store_true", help="CPU, tiny preset, 1 step: checks the script")
    ap.add_argument("--time-budget", type=float, default=150.0, help="stop timing after this many seconds")
    args = ap.parse_args()
    rec = {"bench": "gpu_model", "status": "ok"}
    t_start = time.perf_counter()
    try:
        import torch

        from relforge.model.config import preset
        from relforge.model.rt import AttentionContext, RelationalTransformer
        from relforge.model.testing import synthetic_batch

        if args.dry_run:
            dev, name, attn, bs, ctx, steps, warm = torch.device("cpu"), "tiny", "sparse", 2, 128, 1, 1
        else:
            if not torch.cuda.is_available():
                raise RuntimeError("no CUDA device (use --dry-run on CPU)")
            dev, name, attn = torch.device("cuda"), args.preset, args.attention
            bs, ctx, steps, warm = args.batch_size, args.ctx_len, args.steps, args.warmup
        rec.update(device=torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", torch=torch.__version__,
                   preset=name, attention=attn, batch_size=bs, ctx_len=ctx, dtype="bf16-autocast" if dev.type == "cuda" else "float32")
        to = lambda b: {k: (v.to(dev) if torch.is_tensor(v) else v) for k, v in b.items()}  # noqa: E731

        # 1) correctness: the attention path vs the dense reference, small batch, float32
        try:
            small = to(synthetic_batch(2, 256, seed=1, d_text=384, pad_frac=0.1))
            torch.manual_seed(0)
            m = RelationalTransformer(preset("tiny", d_text=384)).to(dev)
            with torch.no_grad():
                o_ref, _ = m(small, AttentionContext(small, "dense", m.config.n_heads))
                check_attn = "flex" if (attn == "flex" and dev.type == "cuda") else "sparse"
                o, _ = m(small, AttentionContext(small, check_attn, m.config.n_heads))
            real = ~small["is_padding"]
            rec["check"] = {"vs": "dense", "attention": check_attn,
                            "max_abs_diff": float((o - o_ref)[real].abs().max()), "finite": bool(torch.isfinite(o).all())}
        except Exception as e:  # noqa: BLE001
            rec["check"] = {"error": f"{type(e).__name__}: {e}"[:500]}

        # 2) throughput
        batch = to(synthetic_batch(bs, ctx, seed=0, d_text=384))
        torch.manual_seed(0)
        model = RelationalTransformer(preset(name, d_text=384, attention=attn)).to(dev)
        rec["params"] = model.get_num_params()
        opt = model.configure_optimizers(lr=5e-4, weight_decay=0.1, device_type=dev.type)
        amp = torch.autocast("cuda", dtype=torch.bfloat16) if dev.type == "cuda" else torch.autocast("cpu", enabled=False)
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times, losses = [], []
        for i in range(warm + steps):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            with amp:
                _, loss = model(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
            losses.append(float(loss.detach()))
            if i >= warm and time.perf_counter() - t_start > args.time_budget:
                break
        timed = times[warm:] or times[-1:]
        med = statistics.median(timed)
        ntok = batch["node_idx"].numel()
        rec.update(first_step_s=round(times[0], 3), step_s=round(med, 4), steps_timed=len(timed),
                   tokens_per_s=round(ntok / med, 1), nonpad_tokens=int((~batch["is_padding"]).sum()),
                   loss_first=round(losses[0], 5), loss_last=round(losses[-1], 5))
        if dev.type == "cuda":
            rec["peak_mem_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    except Exception as e:  # noqa: BLE001
        rec.update(status="error", error=f"{type(e).__name__}: {e}"[:1000],
                   where=traceback.format_exc().strip().splitlines()[-4:])
    rec["wall_s"] = round(time.perf_counter() - t_start, 1)
    print(json.dumps(rec), flush=True)
    return 0 if rec["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
