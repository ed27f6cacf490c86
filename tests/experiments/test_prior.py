"""The prior benchmark (relforge.experiments.prior, bench/prior.py): full real test sets, the summary
arithmetic, the one-line JSON, clear errors."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relforge.errors import RelforgeError
from relforge.experiments.prior import (CONTENDERS, QUICK, PriorBenchConfig, finished_run, headline, markdown,
                                        recorded_contender, run_dir, run_prior_benchmark, summarize)
from relforge.tokenize.tasks import resolve_task

ROOT = Path(__file__).resolve().parents[2]
TASKS = ("f1/driver-dnf", "movielens/user-mean-rating", "chinook/customer-churn")


def _fake_runs(values: dict) -> list[dict]:
    """values: contender -> seed -> [task values]"""
    runs = []
    for c, per_seed in values.items():
        for s, vals in per_seed.items():
            runs.append(dict(contender=c, seed=s, train_s=1.0, loss_first=1.0, loss_last=0.5, forecast_share=0.0,
                             tasks={t: dict(metric="roc_auc", value=v, n=10, constant=0.5) for t, v in zip(TASKS, vals)},
                             autocomplete={"chinook/track-unitprice": dict(metric="r2", value=vals[0] / 2, n=10,
                                                                           constant=0.0, pearson_r2=vals[1])}))
    return runs


def test_summary_gain_is_the_per_seed_task_mean_difference():
    cfg = QUICK.replace(contenders=("relforge-new", "plurel"), seeds=(0, 1), tasks=TASKS)
    runs = _fake_runs({"relforge-new": {0: [0.7, 0.1, 0.6], 1: [0.8, 0.2, 0.5]},
                       "plurel": {0: [0.6, 0.0, 0.6], 1: [0.6, 0.1, 0.4]}})
    res = summarize(runs, cfg)
    g0, g1 = np.mean([0.1, 0.1, 0.0]), np.mean([0.2, 0.1, 0.1])
    assert res["gain"]["values"] == pytest.approx([g0, g1], abs=1e-4)
    assert res["gain"]["mean"] == pytest.approx((g0 + g1) / 2, abs=1e-4)
    assert res["gain"]["sd"] == pytest.approx(np.std([g0, g1], ddof=1), abs=1e-4)
    t = res["contenders"]["plurel"]["tasks"]["chinook/customer-churn"]
    assert t["mean"] == pytest.approx(0.5) and t["sd"] == pytest.approx(np.std([0.6, 0.4], ddof=1), abs=1e-4)
    # the autocomplete suite: its own per-task mean and sd, outside the 7-task mean and the gain
    a = res["contenders"]["relforge-new"]["autocomplete"]["chinook/track-unitprice"]
    assert a["mean"] == pytest.approx(0.375) and a["pearson_r2"]["mean"] == pytest.approx(0.15)
    assert "chinook/track-unitprice" in markdown(res) and "autocomplete" in markdown(res)


def test_level_free_mean_scores_regression_by_what_it_ranks():
    """The level-free figure puts each regression task's Pearson r2 in place of its R2, so two runs
    that rank alike but sit at different levels tie on it while their R2 differ."""
    cfg = QUICK.replace(contenders=("relforge-new", "plurel"), seeds=(0, 1), tasks=TASKS)
    runs = _fake_runs({"relforge-new": {0: [0.7, 0.1, 0.6], 1: [0.8, -0.3, 0.5]},
                       "plurel": {0: [0.6, 0.2, 0.6], 1: [0.6, 0.1, 0.4]}})
    pearson = {("relforge-new", 0): 0.3, ("relforge-new", 1): 0.3, ("plurel", 0): 0.3, ("plurel", 1): 0.1}
    for r in runs:
        r["tasks"]["movielens/user-mean-rating"].update(metric="r2", pearson_r2=pearson[r["contender"], r["seed"]])
    res = summarize(runs, cfg)
    lf = res["gain"]["level_free"]
    assert lf["values"] == pytest.approx([0.1 / 3, 0.5 / 3], abs=1e-4)  # F1 and Chinook as they are, ML by Pearson
    assert res["gain"]["values"] == pytest.approx([0.0, -0.1 / 3], abs=1e-4)  # R2: the level offset dominates
    assert res["contenders"]["plurel"]["level_free"]["mean"] == pytest.approx(np.mean([1.5, 1.1]) / 3, abs=1e-4)
    assert "level-free" in markdown(res)
    assert headline(dict(res, config=cfg.to_dict(), seconds=1.0))["gain"]["level_free"]["mean"] == pytest.approx(
        lf["mean"])


def test_recorded_contender_is_read_from_the_run_key_and_a_missing_record_is_a_clear_error(tmp_path):
    (tmp_path / "result.json").write_text(json.dumps(dict(key=dict(contender="v1+pp"), result={})))
    assert recorded_contender(tmp_path) == "v1+pp"
    with pytest.raises(RelforgeError, match="no finished run record"):
        recorded_contender(tmp_path / "nosuch")


def test_ablation_runs_without_relforge_new_report_each_contender_over_the_reference():
    cfg = QUICK.replace(contenders=("relforge-default", "v1+latent"), reference="relforge-default", seeds=(0, 1),
                        tasks=TASKS)
    runs = _fake_runs({"relforge-default": {0: [0.7, 0.1, 0.6], 1: [0.8, 0.2, 0.5]},
                       "v1+latent": {0: [0.7, 0.4, 0.6], 1: [0.8, 0.2, 0.2]}})
    res = summarize(runs, cfg)
    assert "gain" not in res
    g = res["gain_v1+latent_minus_relforge-default"]
    assert g["values"] == pytest.approx([0.1, -0.1], abs=1e-4)
    assert "gain" not in headline(dict(res, config=cfg.to_dict(), seconds=1.0))


@pytest.mark.parametrize("kw,msg", [
    (dict(contenders=("relforge-new", "nosuch")), "unknown contender"),
    (dict(contenders=("relforge-new", "relforge-default")), "reference"),
    (dict(tasks=("f1/nosuch",)), "unknown real task"),
    (dict(autocomplete=("f1/driver-dnf",)), "unknown real autocomplete task"),
    (dict(autocomplete_rows=-1), "autocomplete_rows"),
    (dict(seeds=()), "seeds"),
    (dict(device="tpu"), "device"),
    (dict(draws=True, n_dbs=64), "draws"),
])
def test_bad_settings_are_clear_errors(kw, msg):
    with pytest.raises(RelforgeError, match=msg):
        QUICK.replace(**kw).validate()


def test_cli_bad_input_is_one_error_line(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "prior.py"), "--quick", "--work", str(tmp_path),
                        "--contenders", "relforge-new,bogus"], capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and "bogus" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_quick_benchmark_evaluates_full_test_sets(tmp_path, real_data_dir):
    """Two relforge contenders (plurel needs the anchor venv: see the slow test below), one seed,
    three real tasks: every test row is scored once, figures are finite, the JSON line is complete."""
    from relforge import realdata

    cfg = QUICK.replace(contenders=("relforge-new", "relforge-default", "relforge-new-autocomplete", "relforge-new-shuffled"),
                        reference="relforge-default", tasks=TASKS)
    res = run_prior_benchmark(cfg, work=tmp_path / "w", out=tmp_path / "o", log=lambda m: None)
    for key in TASKS:
        dbn, tn = key.split("/")
        n_test = len(realdata.get_task(dbn, tn).splits["test"])
        for r in res["runs"]:
            assert r["tasks"][key]["n"] == r["tasks"][key]["n_test"] == n_test, (r["contender"], key)
            assert math.isfinite(r["tasks"][key]["value"])
            if r["tasks"][key]["metric"] == "r2":  # the level-free figure beside R2
                assert 0 <= r["tasks"][key]["pearson_r2"] <= 1
    # the autocomplete suite: evenly spaced test rows of the real column, scored apart
    (ac,) = cfg.autocomplete
    for r in res["runs"]:
        a = r["autocomplete"][ac]
        assert a["n"] == cfg.autocomplete_rows < a["n_test"] and math.isfinite(a["value"]) and 0 <= a["pearson_r2"] <= 1
    share = {r["contender"]: r["forecast_share"] for r in res["runs"]}
    assert share["relforge-new-autocomplete"] == 0 and share["relforge-new"] == pytest.approx(cfg.task_share, abs=0.02)
    assert share["relforge-new-shuffled"] == share["relforge-new"]  # same corpus and mix, names shuffled
    shuffle = {c: json.loads((run_dir(tmp_path / "w", cfg, c, 0) / "train_config.json").read_text())["name_shuffle"]
               for c in ("relforge-new", "relforge-new-shuffled")}
    assert shuffle == {"relforge-new": 0.0, "relforge-new-shuffled": 1.0}
    # the no-model bar on the same contexts: every test row, one finite figure per task
    bar = res["context_mean"]["tasks"]
    assert set(bar) == set(TASKS) and all(bar[k]["n"] == res["runs"][0]["tasks"][k]["n"] and math.isfinite(bar[k]["value"])
                                          for k in TASKS)
    line = json.loads(json.dumps(headline(res)))
    assert line["context_mean"]["mean"] == pytest.approx(np.mean([bar[k]["value"] for k in TASKS]), abs=1e-4)
    assert "label mean in context" in markdown(res)
    assert set(line["contenders"]) == set(cfg.contenders)
    for c in cfg.contenders:
        assert set(line["contenders"][c]) == set(TASKS)
        assert all(math.isfinite(v["mean"]) and v["sd"] == 0 for v in line["contenders"][c].values())
        assert set(line["autocomplete"][c]) == {ac}
    assert line["gain"]["vs"] == "relforge-default" and math.isfinite(line["gain"]["mean"])
    assert line["tokens_per_run"] == cfg.steps * cfg.batch_size * cfg.ctx_len
    saved = json.loads((tmp_path / "o" / "results.json").read_text())
    assert saved["gain"] == res["gain"] and (tmp_path / "o" / "table.md").read_text().count("\n") >= len(TASKS) + 3

    # resumable: a second call reuses the finished runs (same figures, nothing retrained), and a
    # changed setting is a different run
    again = run_prior_benchmark(cfg, work=tmp_path / "w", log=lambda m: None)
    assert all(r.get("reused") for r in again["runs"]) and again["gain"] == res["gain"]
    corpus = next((tmp_path / "w" / "stores").glob("relforge-v2-*-f*"))  # relforge-new's corpus (with tasks)
    job = dict(cfg=cfg.replace(lr=cfg.lr * 2).to_dict(), contender="relforge-new", seed=0, stores=str(corpus),
               run_dir=str(run_dir(tmp_path / "w", cfg, "relforge-new", 0)))
    assert finished_run(job) is None
    assert finished_run(dict(job, cfg=cfg.to_dict())) is not None
    # scored on other real stores (other data, embedder or tokenizer code): rescored, not reused
    assert finished_run(dict(job, cfg=cfg.to_dict(), real={"chinook": str(tmp_path / "chinook-hash384-00000000")})) is None
    # a run trained by other model code (a changed model input once reused old runs) is not reused
    import relforge.experiments.prior as prior_mod

    orig = prior_mod.model_code_tag
    try:
        prior_mod.model_code_tag = lambda: "other"
        assert finished_run(dict(job, cfg=cfg.to_dict())) is None
    finally:
        prior_mod.model_code_tag = orig


@pytest.mark.slow
def test_bench_script_quick_with_plurel(tmp_path, real_data_dir):
    """bench/prior.py --quick end to end, plurel databases from the anchor venv (minutes)."""
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "prior.py"), "--quick", "--work", str(tmp_path),
                        "--tasks", ",".join(TASKS)], capture_output=True, text=True, cwd=ROOT,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "RELFORGE_DATA": str(real_data_dir),
                            "HOME": str(Path.home())})
    assert r.returncode == 0, r.stderr[-2000:]
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert set(line["contenders"]) == {"relforge-new", "relforge-default", "plurel"}
    assert line["gain"]["vs"] == "plurel" and math.isfinite(line["gain"]["mean"])


def test_real_tasks_ceiling_trains_on_the_real_tasks_training_rows_only(tmp_path, real_data_dir):
    """The ``real-tasks`` contender (the benchmark's in-domain ceiling) trains on the scored real
    forecast tasks' training splits and nothing else: no val/test seeds, no autocomplete column of
    the real tables (their later rows are the test period), no task the benchmark does not score.
    It runs and is scored like any contender, and is refused as a synthetic prior model."""
    from relforge.experiments.prior import _train_config, build_corpus_stores, make_prior_model, real_stores, run_sampler

    cfg = QUICK.replace(contenders=("real-tasks",), reference="real-tasks", tasks=TASKS)
    real = real_stores(cfg, tmp_path / "real", log=lambda m: None)
    folder, rec = build_corpus_stores("real-tasks", cfg, tmp_path / "w", real=real)
    assert rec["databases"] == sorted({t.split("/")[0] for t in TASKS})
    sampler = run_sampler(folder, cfg, "real-tasks", _train_config(cfg, 0, None))
    got = {(t.store.name, t.name, t.split, t.kind) for t in sampler.tasks}
    assert got == {(*t.split("/"), "train", "forecast") for t in TASKS}
    for t in sampler.tasks:  # the seeds are the task's training rows, all of them
        assert t.n_seeds == resolve_task(t.store, t.name, "train").n_seeds > 0
    with pytest.raises(RelforgeError, match="needs their stores"):
        build_corpus_stores("real-tasks", cfg, tmp_path / "w2")
    with pytest.raises(RelforgeError, match="not a synthetic prior"):
        make_prior_model(tmp_path / "m.safetensors", tmp_path / "w", cfg, contender="real-tasks", log=lambda m: None)
    res = run_prior_benchmark(cfg, work=tmp_path / "w", cache=tmp_path / "real", log=lambda m: None)
    (run,) = res["runs"]
    assert run["forecast_share"] == 1.0 and set(run["tasks"]) == set(TASKS)
    assert all(run["tasks"][k]["n"] == run["tasks"][k]["n_test"] and math.isfinite(run["tasks"][k]["value"]) for k in TASKS)
    assert "headroom" not in res  # alone, there is nothing to place between the bar and it


def test_headroom_places_each_prior_between_the_no_model_bar_and_the_ceiling():
    from relforge.experiments.prior import headroom

    def res(means: dict, bar: float) -> dict:
        return dict(contenders={c: {"mean": {"mean": m}} for c, m in means.items()}, context_mean={"mean": bar})

    got = headroom(res({"real-tasks": 0.54, "relforge-default": 0.523, "plurel": 0.477, "v1+x": 0.54}, 0.527))
    assert got["headroom"] == {"relforge-default": pytest.approx(-0.308, abs=1e-3),
                               "plurel": pytest.approx(-3.846, abs=1e-3), "v1+x": 1.0}
    assert headroom(res({"relforge-default": 0.52, "plurel": 0.5}, 0.527)) == {}  # no ceiling ran
    assert headroom(res({"real-tasks": 0.52, "plurel": 0.5}, 0.527)) == {}  # a ceiling below the bar places nothing
    r = res({"real-tasks": 0.54, "plurel": 0.5}, 0.527)
    for d in r["contenders"].values():
        d.update(mean=dict(d["mean"], sd=0.0), tasks={})
    r.update(headroom(r))
    assert "plurel -2.08" in markdown(r)  # the table's line


def test_prior_model_is_a_predict_ready_benchmark_run(tmp_path):
    """make_prior_model trains (or reuses) one benchmark run and saves it with its embedder and a
    record, so predict can load it; no real data needed."""
    from relforge.experiments.prior import make_prior_model
    from relforge.model import checkpoint

    cfg = QUICK.replace(tasks=TASKS)
    rec = make_prior_model(tmp_path / "m.safetensors", tmp_path / "w", cfg, contender="relforge-new", log=lambda m: None)
    ck = checkpoint.read(tmp_path / "m.safetensors")
    assert ck.embedder["name"] == rec["embedder"]["name"] and ck.context.ctx_len == cfg.ctx_len
    assert ck.info["contender"] == "relforge-new" and ck.info["steps"] == cfg.steps and ck.info["forecast_tasks"] > 0
    again = make_prior_model(tmp_path / "m2.safetensors", tmp_path / "w", cfg, contender="relforge-new", log=lambda m: None)
    assert again["train_s"] == rec["train_s"]  # the finished run was reused, not retrained


def test_contender_training_overrides_reach_the_run(tmp_path):
    """A contender's own training settings (mask_rate, name_shuffle, name_scope) are what its run
    trains with and records; the benchmark config's (extra masks 0.3, true names) stay for the others,
    and the default name scope leaves the run keys of earlier runs as they were."""
    from relforge.experiments.prior import make_prior_model
    from relforge.model import checkpoint

    cfg = QUICK.replace(tasks=TASKS)
    assert "name_scope" not in cfg.to_dict() and cfg.replace(name_scope="target").to_dict()["name_scope"] == "target"
    got = {}
    for c in ("relforge-new", "relforge-new-nomask-shuffled-target", "relforge-new-own"):
        make_prior_model(tmp_path / f"{c}.safetensors", tmp_path / "w", cfg, contender=c, log=lambda m: None)
        tc = json.loads((run_dir(tmp_path / "w", cfg, c, 0) / "train_config.json").read_text())
        got[c] = (tc["mask_rate"], tc["name_shuffle"], tc["name_scope"])
        context = checkpoint.read(tmp_path / f"{c}.safetensors").context
        assert context.mask_rate == tc["mask_rate"]
        assert context.own_history is tc["own_history"] is c.endswith("-own")  # predict builds contexts as trained
    assert got == {"relforge-new": (cfg.mask_rate, 0.0, "all"), "relforge-new-nomask-shuffled-target": (0.0, 1.0, "target"),
                   "relforge-new-own": (cfg.mask_rate, 0.0, "all")}
    with pytest.raises(RelforgeError, match="name_scope"):
        cfg.replace(name_scope="some").validate()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_benchmark_workers_die_with_their_parent():
    """A worker whose parent is killed gets SIGTERM (so a killed benchmark leaves no workers
    training into its run folders): a child runs the initializer and reports its death signal."""
    code = ("import ctypes, signal\n"
            "from relforge.experiments.prior import die_with_parent\n"
            "assert die_with_parent()\n"
            "sig = ctypes.c_int(0)\n"
            "ctypes.CDLL(None).prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG\n"
            "print(sig.value == int(signal.SIGTERM))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr[-500:]


def test_corpus_folder_follows_the_embedder_record(tmp_path, monkeypatch):
    """The same embedder name with another record (e.g. another precision) names another corpus
    folder: stores holding other text vectors are never reused."""
    import relforge.experiments.prior as P

    cfg = QUICK.replace(tasks=TASKS)
    first, _ = P.build_corpus_stores("relforge-default", cfg, tmp_path, log=lambda m: None)
    again, _ = P.build_corpus_stores("relforge-default", cfg, tmp_path, log=lambda m: None)
    assert again == first
    monkeypatch.setattr(P, "embedder_tag", lambda name: "0000")  # as another record would hash
    other, _ = P.build_corpus_stores("relforge-default", cfg, tmp_path, log=lambda m: None)
    assert other != first and other.name.rsplit("-e", 1)[0] == first.name.rsplit("-e", 1)[0]


def test_source_fingerprint_follows_every_file_of_a_package(tmp_path, monkeypatch):
    """Corpus and real-store folder names carry a hash of the code that made them
    (``corpus_code_tag``, ``real_store_path``): editing any module of a package changes it."""
    import importlib

    from relforge.fileio import source_fingerprint

    pkg = tmp_path / "fp_pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "gen.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    m = importlib.import_module("fp_pkg")
    a = source_fingerprint(m)
    assert a == source_fingerprint(m)
    (pkg / "sub" / "gen.py").write_text("X = 2\n")
    assert source_fingerprint(m) != a


def test_corpus_draws_are_other_databases_and_runs_never_share_a_folder(tmp_path):
    """``draws``: seed s trains on its own corpus draw (other database seeds, another folder),
    draw 0 is the usual corpus; run folders differ whenever the settings do (a small-model run
    once overwrote a tiny-model run's side files in the same folder)."""
    from relforge.experiments.prior import build_corpus_stores

    cfg = QUICK.replace(contenders=("relforge-default",), reference="relforge-default", draws=True)
    f0, r0 = build_corpus_stores("relforge-default", cfg, tmp_path, log=lambda m: None)
    f1, r1 = build_corpus_stores("relforge-default", cfg, tmp_path, draw=1, log=lambda m: None)
    assert f0 != f1 and r1["draw"] == 1 and f1.name.endswith("-d1")
    assert set(r0["databases"]).isdisjoint(r1["databases"])
    assert build_corpus_stores("relforge-default", cfg, tmp_path, draw=1, log=lambda m: None)[0] == f1  # reused
    base = PriorBenchConfig()
    assert run_dir(tmp_path, base, "plurel", 0).name == "plurel-s0"
    names = {run_dir(tmp_path, c, "plurel", 0).name for c in (base, base.replace(preset="small"),
                                                               base.replace(draws=True), base.replace(tokens=9_000_000))}
    assert len(names) == 4


def test_v2_part_ablations_differ_from_v1_only_in_v2_knobs():
    """``v1+<part>`` takes its knobs' values from the v2 preset itself (not a copy of them): each
    differs from v1 exactly in its own knobs, where it equals v2."""
    from relforge.experiments.prior import CONTENDERS, SIZES, generator_config, generator_overrides

    v1 = generator_config("v1", SIZES)[0].to_dict()
    v2 = generator_config("v2", SIZES)[0].to_dict()
    for name in ("v1+fanout", "v1+latent", "v1+state", "v1+aggregates", "v1+gains", "v1+names"):
        got = generator_config("v1", SIZES)[0].replace(**generator_overrides(CONTENDERS[name])).to_dict()
        changed = {f"{s}.{k}" for s in got for k in got[s] if got[s][k] != v1[s][k]}
        assert changed and changed <= set(CONTENDERS[name]["v2_parts"]), name
        assert all(got[s][k] == v2[s][k] for s, k in (p.split(".") for p in CONTENDERS[name]["v2_parts"]))


def test_mixture_contender_alternates_its_generators(tmp_path):
    """``mix``: database seed ``s0 + i`` is drawn with the i-th config in turn, so a mixture holds
    both generators' databases, each identical to the one its own contender draws for that seed."""
    from relforge.experiments.prior import CONTENDERS, SIZES, contender_generator_configs, generator_config

    cfgs, fallback = contender_generator_configs(CONTENDERS["mix-v1v2"], SIZES)
    assert not fallback and [c.hash() for c in cfgs] == [generator_config(p, SIZES)[0].hash() for p in ("v1", "v2")]
    assert len(contender_generator_configs(CONTENDERS["relforge-default"], SIZES)[0]) == 1
    from relforge.experiments.prior import build_corpus_stores

    cfg = QUICK.replace(contenders=("mix-v1v2",), reference="mix-v1v2", n_dbs=2)
    folder, rec = build_corpus_stores("mix-v1v2", cfg, tmp_path, log=lambda m: None)
    assert rec["config_hashes"] == [c.hash() for c in contender_generator_configs(CONTENDERS["mix-v1v2"], cfg.sizes)[0]]
    one, _ = build_corpus_stores("relforge-default", cfg.replace(contenders=("relforge-default",),
                                                                 reference="relforge-default"), tmp_path, log=lambda m: None)
    assert folder != one
    # the first database (seed db_seed, config 0 = v1) is the default contender's first database
    first = json.loads((folder / "prior_corpus.json").read_text())["databases"][0]
    assert first == json.loads((one / "prior_corpus.json").read_text())["databases"][0]
    assert (folder / first / "index.json").read_bytes() == (one / first / "index.json").read_bytes()


def test_huber_delta_reaches_the_model_and_names_its_runs(tmp_path):
    """The regression loss's Huber delta is a benchmark setting (and a contender override): the
    trained checkpoint carries it, runs at another delta get their own folder, and the default
    leaves earlier runs' keys as they were."""
    from relforge.experiments.prior import make_prior_model
    from relforge.model import checkpoint

    base = PriorBenchConfig()
    assert "huber_delta" not in base.to_dict()
    assert run_dir(tmp_path, base.replace(huber_delta=100.0), "plurel", 0) != run_dir(tmp_path, base, "plurel", 0)
    with pytest.raises(RelforgeError, match="huber_delta"):
        QUICK.replace(huber_delta=0.0).validate()
    cfg = QUICK.replace(tasks=TASKS)
    make_prior_model(tmp_path / "m.safetensors", tmp_path / "w", cfg, contender="v1-huber100", log=lambda m: None)
    assert checkpoint.read(tmp_path / "m.safetensors").config.huber_delta == 100.0


def test_label_history_setting_reaches_training_and_the_checkpoint(tmp_path):
    """``history`` (forecast contexts: the entity's most recent closed labels) is a benchmark
    setting: it names its runs apart, reaches the training config and is recorded with the weights
    (so ``relforge predict`` builds the same contexts); the default leaves run keys as they were."""
    from relforge.experiments.prior import make_prior_model
    from relforge.model import checkpoint

    base = PriorBenchConfig()
    assert "history" not in base.to_dict() and base.replace(history=0).to_dict()["history"] == 0
    assert run_dir(tmp_path, base.replace(history=0), "plurel", 0) != run_dir(tmp_path, base, "plurel", 0)
    with pytest.raises(RelforgeError, match="history"):
        QUICK.replace(history=-1).validate()
    cfg = QUICK.replace(tasks=TASKS, history=1)
    make_prior_model(tmp_path / "m.safetensors", tmp_path / "w", cfg, contender="relforge-new", log=lambda m: None)
    tc = json.loads((run_dir(tmp_path / "w", cfg, "relforge-new", 0) / "train_config.json").read_text())
    assert tc["history"] == 1 and checkpoint.read(tmp_path / "m.safetensors").context.history == 1


def test_peer_parents_is_validated_names_its_runs_and_is_never_packaged(tmp_path):
    """``peer_parents`` (benchmark-only context rule) is validated, names its runs apart, and a
    contender trained with it cannot become a predict-ready model (checkpoints do not record it)."""
    from relforge.experiments.prior import make_prior_model

    base = PriorBenchConfig()
    assert "peer_parents" not in base.to_dict()
    assert run_dir(tmp_path, base.replace(peer_parents=True), "relforge-default", 0) != run_dir(tmp_path, base,
                                                                                               "relforge-default", 0)
    with pytest.raises(RelforgeError, match="peer_parents"):
        QUICK.replace(peer_parents=1).validate()
    assert CONTENDERS["v1+pp"]["peer_parents"] is True
    with pytest.raises(RelforgeError, match="peer_parents"):
        make_prior_model(tmp_path / "m.safetensors", tmp_path / "w", QUICK, contender="v1+pp", log=lambda m: None)
    assert not (tmp_path / "m.safetensors").exists() and not (tmp_path / "w").exists()


@pytest.mark.parametrize("setting,value,base_contender,contender", [
    ("history_dropout", 0.5, "relforge-new", "relforge-new-blind"),  # forecast contexts shown no label history
    ("peer_mask", 0.25, "relforge-default", "v1+peermask"),  # peer rows whose target cell is also masked
    ("recent", 3, "relforge-new", "relforge-new-recent"),  # the entity's latest children first in every context
])
def test_training_overrides_reach_training_and_name_their_runs(tmp_path, setting, value, base_contender, contender):
    """``history_dropout``, ``peer_mask`` and ``recent`` are benchmark settings and contender overrides: each is
    validated, reaches the run's training config, names its runs apart, and its default leaves
    earlier runs' keys as they were."""
    from relforge.experiments.prior import make_prior_model

    base = PriorBenchConfig()
    assert setting not in base.to_dict()
    assert run_dir(tmp_path, base.replace(**{setting: value}), base_contender, 0) != run_dir(tmp_path, base, base_contender, 0)
    with pytest.raises(RelforgeError, match=setting):
        QUICK.replace(**{setting: 1.5}).validate()
    assert CONTENDERS[contender][setting] == value
    cfg = QUICK.replace(tasks=TASKS)
    make_prior_model(tmp_path / "m.safetensors", tmp_path / "w", cfg, contender=contender, log=lambda m: None)
    tc = json.loads((run_dir(tmp_path / "w", cfg, contender, 0) / "train_config.json").read_text())
    assert tc[setting] == value
