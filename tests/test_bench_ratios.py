"""The ratio arithmetic of the bench scripts, on canned anchor output (lines in the format the
anchor scripts print: plurel_generate.py, rt_model_bench.py, rt_sampler_bench.py)."""
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


A = _load("_anchors")

PLUREL_OUT = """\
noise before the JSON
{"seed": 0, "num_tables": 15, "total_rows": 13896, "total_cells": 200000, "wall_s": 7.0, "cpu_s": 8.0, "peak_rss_mb": 764.0, "import_rss_mb": 412.0, "repeat": 0}
{"seed": 1, "num_tables": 8, "total_rows": 9824, "total_cells": 100000, "wall_s": 2.6, "cpu_s": 2.0, "peak_rss_mb": 576.0, "import_rss_mb": 412.0, "repeat": 0}
{"seed": 2, "error": "timeout after 900s", "repeat": 0}
"""


def test_json_lines_reads_only_json_objects_with_the_key():
    recs = A.json_lines(PLUREL_OUT, '"seed"')
    assert [r["seed"] for r in recs] == [0, 1, 2]
    assert A.json_lines("x\n{broken\n{\"a\": 1}") == [{"a": 1}]


def test_helpers_refuse_missing_or_zero_denominators():
    assert A.ratio(10, 4) == 2.5 and A.ratio(None, 4) is None and A.ratio(1, 0) is None
    assert A.rate(100, 0) is None and A.rate(100, 4) == 25
    assert A.median([3, None, 1, 2]) == 2 and A.median([None]) is None
    assert A.geomean([2, 8]) == pytest.approx(4) and A.geomean([1, 0]) is None


def test_generate_ratios_and_memory_split():
    g = _load("generate")
    pl = {r["seed"]: r for r in A.json_lines(PLUREL_OUT, '"seed"')}
    rf = {0: dict(total_cells=100_000, cpu_s=0.2, peak_rss_mb=150.0, import_rss_mb=130.0),
          1: dict(total_cells=300_000, cpu_s=0.5, peak_rss_mb=170.0, import_rss_mb=130.0),
          2: dict(total_cells=50_000, cpu_s=0.1, peak_rss_mb=140.0, import_rss_mb=130.0)}
    sw = {0: dict(total_cells=100_000, cpu_s=1.0, peak_rss_mb=200.0, import_rss_mb=130.0),
          1: dict(total_cells=300_000, cpu_s=2.5, peak_rss_mb=260.0, import_rss_mb=130.0),
          2: dict(error="boom")}
    rows = [g.seed_row(s, rf[s], sw[s], pl.get(s, {})) for s in (0, 1, 2)]
    # seed 0: relforge 500k cells/s vs plurel 25k -> 20; same-work 100k -> 4
    assert rows[0]["ratio"] == pytest.approx(20.0) and rows[0]["same_work_ratio"] == pytest.approx(4.0)
    # seed 1: 600k vs 50k -> 12; same-work 120k -> 2.4
    assert rows[1]["ratio"] == pytest.approx(12.0) and rows[1]["same_work_ratio"] == pytest.approx(2.4)
    assert rows[2]["ratio"] is None and rows[2]["same_work_ratio"] is None  # plurel timed out
    s = g.summarize(rows, {"torch_import_mb": 300.0})
    assert s["ratio"] == pytest.approx(16.0) and s["same_work_ratio"] == pytest.approx(3.2)  # medians of 2
    assert s["mem_ratio"] == pytest.approx(statistics_median([764 / 150, 576 / 170]), abs=1e-3)
    m = s["memory"]
    # peaks: plurel median 670, relforge median 150 -> gap 520; imports 412 vs 130 -> 282
    assert m["peak_gap_mb"] == pytest.approx(520.0) and m["import_gap_mb"] == pytest.approx(282.0)
    assert m["import_share_of_gap"] == pytest.approx(282 / 520, abs=1e-3)
    assert m["torch_share_of_gap"] == pytest.approx(300 / 520, abs=1e-3)
    assert m["mem_ratio_without_torch"] == pytest.approx(370 / 150, abs=1e-3)


def statistics_median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


RT_MODEL_OUT = """\
{"phase": "batch", "source": "sampler:plurel-0/autocomplete-table_14-feature_12", "batch_size": 4}
{"model": "paper", "dtype": "float32", "params": 21547938, "mode": "sdpa_train", "status": "ok", "step_s": 10.0, "tokens_per_s": 400, "peak_rss_mb": 7000.0}
{"model": "small", "dtype": "float32", "params": 1922226, "mode": "sdpa_train", "status": "ok", "step_s": 1.6, "tokens_per_s": 2500, "peak_rss_mb": 1600.0}
"""


def _relforge(model, kind, tps, gate, params=1):
    return {"impl": "relforge", "model": model, "kind": kind, "gate": gate, "tokens_per_s": tps, "params": params,
            "peak_rss_mb": 1000.0}


def test_model_ratio_is_the_real_training_step_at_the_matched_architecture():
    m = _load("model")
    anchors = [dict(r, impl="rt-1.10.0") for r in A.json_lines(RT_MODEL_OUT, '"model"') if "phase" not in r]
    recs = anchors + [
        _relforge("paper", "real", 880.0, True), _relforge("paper", "pruned", 1000.0, True),
        _relforge("paper", "full", 840.0, True), _relforge("paper", "real", 900.0, False),
        _relforge("small", "real", 6000.0, True), _relforge("small", "pruned", 8000.0, True),
        _relforge("small", "full", 5500.0, True), _relforge("small", "real", 6500.0, False)]
    s = m.summarize(recs, ["paper", "small"], gate_available=True)
    assert s["paper"]["real_ratio"] == pytest.approx(2.2) and s["paper"]["pruned_ratio"] == pytest.approx(2.5)
    assert s["paper"]["full_ratio"] == pytest.approx(2.1) and s["paper"]["gate_free_real_ratio"] == pytest.approx(2.25)
    assert s["small"]["real_ratio"] == pytest.approx(2.4)
    assert s["ratio"] == pytest.approx(2.2) and s["matched"] is True  # min over configs, real step, gated
    assert s["paper"]["memory_ratio"] == pytest.approx(1000 / 7000, abs=1e-3)
    # without the gate option the gate-free records are the headline and the summary says so
    free = anchors + [_relforge("paper", "real", 900.0, False), _relforge("small", "real", 6500.0, False)]
    s2 = m.summarize(free, ["paper", "small"], gate_available=False)
    assert s2["ratio"] == pytest.approx(2.25) and s2["matched"] is False
    assert s2["paper"]["pruned_ratio"] is None


RT_SAMPLER_SUMMARY = {"rustler_s": 0.08, "ctx_per_s": 2500.0}


def test_sampler_ratios_are_geometric_means_per_database():
    s = _load("sampler")
    rows = [{"db": "plurel-0", "rt": {"rustler_s": 0.08, "ctx_per_s": 2500.0},
             "relforge": {"ctx_per_s": 25000.0, "ctx_per_s_vectors": 5000.0, "cold_total_s": 0.04}},
            {"db": "plurel-1", "rt": {"rustler_s": 0.05, "ctx_per_s": 3000.0},
             "relforge": {"ctx_per_s": 12000.0, "ctx_per_s_vectors": 3000.0, "cold_total_s": 0.1}}]
    out = s.summarize(rows)
    assert out["ratio_per_db"] == {"plurel-0": 10.0, "plurel-1": 4.0}
    assert out["ratio"] == pytest.approx(math.sqrt(40), abs=1e-3)
    assert out["vectors_ratio"] == pytest.approx(math.sqrt(2 * 1), abs=1e-3)
    assert out["tokenize_ratio"] == pytest.approx(math.sqrt(0.5 * 2), abs=1e-3)
    no_rt = s.summarize([{"db": "x", "relforge": rows[0]["relforge"]}])
    assert no_rt["ratio"] is None and no_rt["relforge_ctx_per_s"] == {"x": 25000.0}


def test_sampler_per_token_vectors_match_rt_format():
    torch = pytest.importorskip("torch")
    s = _load("sampler")
    col_emb = torch.arange(3 * 4, dtype=torch.float32).view(3, 4)
    text_emb = torch.ones(2, 4)
    batch = {"col_id": torch.tensor([[0, 2, -1]]), "text_id": torch.tensor([[-1, 1, -1]]),
             "col_emb": col_emb, "text_emb": text_emb}
    col_vec, text_vec = s.per_token_vectors(batch)
    assert col_vec.shape == text_vec.shape == (1, 3, 4) and col_vec.dtype == torch.bfloat16
    assert torch.equal(col_vec[0, 1].float(), col_emb[2]) and torch.equal(text_vec[0, 1].float(), text_emb[1])
    assert not text_vec[0, 0].any() and not text_vec[0, 2].any() and not col_vec[0, 2].any()  # -1: zeros
    empty = dict(batch, text_emb=torch.zeros(0, 4), text_id=torch.full((1, 3), -1))
    assert not s.per_token_vectors(empty)[1].any()


def test_corpus_ratio_uses_the_seeds_both_sides_completed():
    c = _load("corpus_throughput")
    rf = [{"seed": 0, "status": "ok", "seconds": 1.2, "cpu_seconds": 1.0, "rows": 100},
          {"seed": 1, "status": "ok", "seconds": 0.6, "cpu_seconds": 0.5, "rows": 50},
          {"seed": 2, "status": "failed", "seconds": 0.1}]
    pl = [r for r in A.json_lines(PLUREL_OUT, '"seed"')]
    out = c.summarize(rf, pl, n_extrapolate=1024, workers=2)
    assert out["seeds"] == [0, 1]
    assert out["ratio"] == pytest.approx((8.0 + 2.0) / 2 / 0.75, abs=0.01)
    assert out["plurel_extrapolated_s"] == pytest.approx(5.0 * 1024 / 2)
    json.dumps(out)
