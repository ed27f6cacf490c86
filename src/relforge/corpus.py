"""Many synthetic databases at once: one per seed, written to disk, optionally in parallel.

:func:`generate_many` writes seed ``s`` to ``OUT/db_{s:06d}/`` (each folder atomically, see
:func:`relforge.db.io.save_database`) and a ``corpus.json`` manifest listing what it wrote.
:func:`generate_to` is what ``relforge generate`` calls: one database goes straight into ``OUT``,
several into per-seed subfolders. A database depends only on its seed and the config, so the output
is identical for any number of workers (each worker is a fresh ``spawn``-ed process).
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import multiprocessing as mp
import time
from pathlib import Path
from typing import Callable, Iterable

from relforge.db.database import Database
from relforge.db.io import save_database
from relforge.errors import RelforgeError
from relforge.fileio import atomic_file, check_output_dir
from relforge.generate.config import GeneratorConfig, load_config

MANIFEST = "corpus.json"


def db_folder_name(seed: int) -> str:
    """Folder of seed ``seed`` inside a corpus: ``db_000042``."""
    return f"db_{seed:06d}"


def _default_generator(seed: int, cfg: GeneratorConfig) -> Database:
    from relforge.generate.pipeline import generate_database

    return generate_database(seed, cfg)


def _generate_one(seed: int, cfg: GeneratorConfig, path: str, overwrite: bool,
                  generator: Callable[[int, GeneratorConfig], Database] | None) -> dict:
    """Generate and save one database; the record describing it (runs in a worker process)."""
    t0 = time.perf_counter()
    db = (generator or _default_generator)(seed, cfg)
    h = db.content_hash()
    save_database(db, path, overwrite=overwrite)
    return dict(seed=int(seed), path=str(path), tables=len(db.tables), rows=int(db.n_rows), cells=int(db.n_cells),
                content_hash=h, seconds=round(time.perf_counter() - t0, 3))


def _progress(enabled: bool, total: int):
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=True, disable=not enabled or total < 2)


def _run(jobs: list[tuple[int, str]], cfg: GeneratorConfig, overwrite: bool, workers: int, progress: bool,
         generator) -> list[dict]:
    """Run ``(seed, path)`` jobs inline (workers=1) or in a spawn process pool; records in job order."""
    records: dict[int, dict] = {}
    with _progress(progress, len(jobs)) as bar:
        task = bar.add_task("generate", total=len(jobs))
        if workers <= 1 or len(jobs) <= 1:
            for i, (seed, path) in enumerate(jobs):
                records[i] = _generate_one(seed, cfg, path, overwrite, generator)
                bar.advance(task)
        else:
            ctx = mp.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx) as ex:
                futs = {ex.submit(_generate_one, seed, cfg, path, overwrite, generator): i
                        for i, (seed, path) in enumerate(jobs)}
                try:
                    for f in cf.as_completed(futs):
                        records[futs[f]] = f.result()
                        bar.advance(task)
                except BaseException:
                    for f in futs:
                        f.cancel()
                    raise
    return [records[i] for i in range(len(jobs))]


def _check_seeds(seeds: Iterable[int]) -> list[int]:
    seeds = list(seeds)
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise RelforgeError(f"seed must be a non-negative integer, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise RelforgeError("seeds must be distinct")
    if not seeds:
        raise RelforgeError("no seeds given")
    return seeds


def generate_many(seeds: Iterable[int], config=None, out_dir: str | Path = "corpus", *, workers: int = 1,
                  overwrite: bool = False, progress: bool = True, generator=None) -> list[dict]:
    """Generate one database per seed into ``out_dir/db_{seed:06d}/``.

    Parameters
    ----------
    seeds : distinct non-negative integers; database ``i`` is ``generate_database(seeds[i], config)``.
    config : a GeneratorConfig, dict of overrides, TOML path or None (defaults); validated first.
    out_dir : the corpus folder; refused if it exists and is not empty, unless ``overwrite``
        (then each ``db_*`` folder of these seeds is replaced; other contents are left alone).
    workers : processes; 1 runs inline. The output does not depend on it.
    progress : show a progress bar on stderr.
    generator : ``(seed, GeneratorConfig) -> Database``, a module-level function (default: the
        PluRel pipeline, :func:`relforge.generate.pipeline.generate_database`).

    Returns
    -------
    One record per seed, in seed order: ``seed, path, tables, rows, cells, content_hash, seconds``.
    The same records are written to ``out_dir/corpus.json``.
    """
    seeds = _check_seeds(seeds)
    cfg = load_config(config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RelforgeError(f"workers must be a positive integer, got {workers!r}")
    out = check_output_dir(out_dir, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(s, str(out / db_folder_name(s))) for s in seeds]
    records = _run(jobs, cfg, overwrite, workers, progress, generator)
    manifest = dict(format="relforge-corpus", config=cfg.to_dict(), config_hash=cfg.hash(),
                    databases=[dict(r, path=Path(r["path"]).name) for r in records])
    with atomic_file(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    return records


def generate_to(out: str | Path, seed: int = 0, n_dbs: int = 1, config=None, *, workers: int = 1,
                overwrite: bool = False, progress: bool = True, generator=None) -> list[dict]:
    """``relforge generate``: ``n_dbs`` databases from seeds ``seed .. seed+n_dbs-1``.

    One database is written directly into ``out`` (a database folder); several go to
    ``out/db_{seed:06d}/`` via :func:`generate_many`. Returns the records of what was written.
    """
    if isinstance(n_dbs, bool) or not isinstance(n_dbs, int) or n_dbs < 1:
        raise RelforgeError(f"number of databases must be a positive integer, got {n_dbs!r}")
    seeds = _check_seeds(range(seed, seed + n_dbs) if isinstance(seed, int) and not isinstance(seed, bool) else [seed])
    if n_dbs > 1:
        return generate_many(seeds, config, out, workers=workers, overwrite=overwrite, progress=progress,
                             generator=generator)
    cfg = load_config(config)
    check_output_dir(out, overwrite)
    return [_generate_one(seeds[0], cfg, str(out), overwrite, generator)]


def is_corpus(path: str | Path) -> bool:
    """True for a folder written by :func:`generate_many` (it holds ``corpus.json``)."""
    return (Path(path) / MANIFEST).is_file()


def read_manifest(path: str | Path) -> dict:
    """The ``corpus.json`` of a corpus folder."""
    f = Path(path) / MANIFEST
    try:
        m = json.loads(f.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RelforgeError(f"cannot read corpus manifest {str(f)!r}: {e}") from None
    if not isinstance(m, dict) or not isinstance(m.get("databases"), list):
        raise RelforgeError(f"corrupt corpus manifest {str(f)!r}: no list of databases")
    return m


def describe_corpus(path: str | Path) -> str:
    """One line per database of a corpus folder (from its manifest) plus totals."""
    m = read_manifest(path)
    dbs = m["databases"]
    lines = [f"corpus {str(path)!r}: {len(dbs)} databases, {sum(d['rows'] for d in dbs):,} rows, "
             f"{sum(d['cells'] for d in dbs):,} cells; config {m.get('config_hash', '?')}"]
    for d in dbs:
        lines.append(f"  {d['path']}: seed {d['seed']}, {d['tables']} tables, {d['rows']:,} rows, "
                     f"{d['cells']:,} cells, {d['seconds']:.2f} s")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Resumable corpora at scale: ``relforge corpus`` (a JSONL manifest, local or Ray backends).
#
# ``build_corpus`` writes seeds ``offset .. offset+K-1`` into ``OUT/db_{seed:06d}/``. Every
# finished database appends one JSON line to ``OUT/manifest.jsonl`` (write + flush + fsync, from
# the driver process only), so a run killed at any point (even ``kill -9``) is completed by running
# the same command again: a record is trusted only if its folder exists and the content hash in the
# folder's ``metadata.json`` matches it; everything else is generated again. Databases are saved
# through a temporary folder renamed on success, so a partly written database never appears under
# its final name. The finished corpus also gets the ``corpus.json`` of :func:`generate_many`.
# ---------------------------------------------------------------------------------------------

JSONL_MANIFEST = "manifest.jsonl"
CORPUS_CONFIG = "corpus_config.json"
BACKENDS = ("local", "ray")


def _corpus_one(seed: int, cfg: GeneratorConfig, path: str, parent_pid: int | None = None,
                generator: Callable[[int, GeneratorConfig], Database] | None = None) -> dict:
    """Generate and save one database of a corpus; its manifest record (runs in a worker).

    The content hash is stored in the folder's metadata (``meta.content_hash``) so a resumed run
    can check a folder against its record. A generator error gives a ``status: failed`` record.
    ``parent_pid``: when the driver died meanwhile (orphaned pool worker), nothing is published.
    """
    import os
    import shutil

    t0, c0 = time.perf_counter(), time.process_time()
    base = dict(seed=int(seed), path=Path(path).name, config_hash=cfg.hash())
    try:
        db = (generator or _default_generator)(seed, cfg)
        h = db.content_hash()
    except Exception as e:  # a seed the generator cannot realise is recorded, not fatal
        msg = " ".join(f"{type(e).__name__}: {e}".split())[:300]
        return dict(base, status="failed", error=msg, seconds=round(time.perf_counter() - t0, 3))
    if parent_pid is not None and os.getppid() != parent_pid:
        return dict(base, status="orphaned")
    db.meta = {**db.meta, "content_hash": h}
    if Path(path).exists():  # a stale folder without a trusted record (killed between save and append)
        shutil.rmtree(path, ignore_errors=True)
    save_database(db, path, overwrite=True)
    return dict(base, status="ok", tables=len(db.tables), rows=int(db.n_rows), cells=int(db.n_cells),
                content_hash=h, seconds=round(time.perf_counter() - t0, 3),
                cpu_seconds=round(time.process_time() - c0, 3))


def read_jsonl_manifest(out_dir: str | Path) -> list[dict]:
    """Records of ``OUT/manifest.jsonl`` in file order; a torn last line (a kill mid-write) is skipped."""
    f = Path(out_dir) / JSONL_MANIFEST
    if not f.is_file():
        return []
    recs = []
    for line in f.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict) and "seed" in r:
            recs.append(r)
    return recs


def _folder_hash(folder: Path) -> str | None:
    try:
        return json.loads((folder / "metadata.json").read_text()).get("meta", {}).get("content_hash")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def verify_corpus(out_dir: str | Path) -> dict[int, dict]:
    """The trusted records of a corpus: seed -> last ``ok`` record whose folder exists and whose
    metadata content hash equals the record's (``failed`` records are kept as they are)."""
    out = Path(out_dir)
    last: dict[int, dict] = {}
    for r in read_jsonl_manifest(out):
        if r.get("status") in ("ok", "failed"):
            last[int(r["seed"])] = r
    good = {}
    for s, r in last.items():
        if r["status"] == "failed" or _folder_hash(out / r["path"]) == r.get("content_hash"):
            good[s] = r
    return good


def _append(fh, rec: dict) -> None:
    import os

    fh.write(json.dumps(rec, sort_keys=True) + "\n")
    fh.flush()
    os.fsync(fh.fileno())


def _clean_temporaries(out: Path) -> None:
    """Remove leftovers of killed runs: ``.db_*.tmp-*`` / ``.db_*.old-*`` folders (never final names)."""
    import shutil

    for p in out.glob(".db_*"):
        if ".tmp-" in p.name or ".old-" in p.name:
            shutil.rmtree(p, ignore_errors=True)


def _exit_with_parent(parent_pid: int) -> None:
    """Pool-worker initializer: a daemon thread ends the worker once the driver is gone (a
    ``kill -9`` of the driver would otherwise leave spawn workers blocked on their queue forever)."""
    import os
    import threading

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _iter_local(jobs, cfg, workers, generator):
    """Yield records as jobs finish, inline (workers=1) or in a spawn process pool."""
    import os

    if workers <= 1 or len(jobs) <= 1:
        for seed, path in jobs:
            yield _corpus_one(seed, cfg, path, None, generator)
        return
    ctx = mp.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx, initializer=_exit_with_parent,
                                initargs=(os.getpid(),)) as ex:
        futs = [ex.submit(_corpus_one, seed, cfg, path, os.getpid(), generator) for seed, path in jobs]
        try:
            for f in cf.as_completed(futs):
                yield f.result()
        finally:
            for f in futs:
                f.cancel()


def _iter_ray(jobs, cfg, workers, generator, address):
    """Yield records as Ray tasks finish, on the cluster at ``address`` or a local instance.

    Each task writes its database folder itself, so ``OUT`` must be on a filesystem every Ray node
    sees. A local instance (no ``address``) is started with ``workers`` CPUs and shut down after.
    """
    try:
        import ray
    except ImportError:
        raise RelforgeError("the ray backend needs ray: pip install 'relforge[ray]'") from None
    started = False
    if not ray.is_initialized():
        kw = dict(address=address) if address else dict(num_cpus=max(int(workers), 1), include_dashboard=False)
        try:
            ray.init(logging_level="WARNING", log_to_driver=False, **kw)
        except Exception as e:
            raise RelforgeError(f"cannot start or reach Ray ({address or 'local'}): {type(e).__name__}: {e}") from None
        started = True
    try:
        remote = ray.remote(num_cpus=1, max_retries=2)(_corpus_one)
        pending = [remote.remote(seed, cfg, path, None, generator) for seed, path in jobs]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                yield ray.get(ref)
    finally:
        if started:
            ray.shutdown()


def build_corpus(out_dir: str | Path, num_dbs: int, *, offset: int = 0, config=None, workers: int = 1,
                 backend: str = "local", address: str | None = None, progress: bool = True,
                 generator=None) -> dict:
    """Generate (or complete) a corpus of ``num_dbs`` databases, seeds ``offset .. offset+num_dbs-1``.

    Parameters
    ----------
    out_dir : corpus folder. A new or empty folder starts a corpus; a folder holding a corpus made
        with the same config is completed (resume); any other non-empty folder is refused.
    num_dbs, offset : the seeds. Seeds already finished (trusted manifest records) are skipped,
        so growing a corpus with a larger ``num_dbs`` generates only the new seeds.
    config : GeneratorConfig, dict of overrides, TOML path or None; its hash must match the
        corpus's on resume.
    workers : processes (local) or CPUs of the local Ray instance. Output does not depend on it.
    backend : ``"local"`` (process pool) or ``"ray"`` (Ray tasks; ``address`` of an existing
        cluster, e.g. ``"auto"`` or ``"ray://host:10001"``; None starts a local instance).
    progress : a progress bar on stderr.
    generator : ``(seed, GeneratorConfig) -> Database`` module-level function (tests, plug-ins).

    Returns
    -------
    Summary dict: ``out, databases, generated, skipped, failed, seconds, records`` (one record per
    seed, in seed order: seed, path, config_hash, status, tables, rows, cells, content_hash,
    seconds, cpu_seconds). ``OUT/manifest.jsonl`` ends up with exactly these records and ``OUT/corpus.json``
    lists the ``ok`` ones.
    """
    if isinstance(num_dbs, bool) or not isinstance(num_dbs, int) or num_dbs < 1:
        raise RelforgeError(f"number of databases must be a positive integer, got {num_dbs!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise RelforgeError(f"offset must be a non-negative integer, got {offset!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RelforgeError(f"workers must be a positive integer, got {workers!r}")
    if backend not in BACKENDS:
        raise RelforgeError(f"unknown backend {backend!r} (use {' or '.join(BACKENDS)})")
    cfg = load_config(config)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise RelforgeError(f"output path {str(out)!r} exists and is not a folder")
    cfg_file = out / CORPUS_CONFIG
    if out.is_dir() and any(out.iterdir()):
        if not cfg_file.is_file():
            raise RelforgeError(f"output folder {str(out)!r} is not empty and holds no relforge corpus "
                                f"({CORPUS_CONFIG} missing)")
        try:
            old = json.loads(cfg_file.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RelforgeError(f"cannot read {str(cfg_file)!r}: {e}") from None
        if old.get("config_hash") != cfg.hash():
            raise RelforgeError(f"corpus {str(out)!r} was made with config {old.get('config_hash')}, "
                                f"not {cfg.hash()}; use another folder")
    else:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_file(cfg_file) as tmp:
            tmp.write_text(json.dumps(dict(format="relforge-corpus", config_hash=cfg.hash(), config=cfg.to_dict()),
                                      indent=2))
    _clean_temporaries(out)
    t0 = time.perf_counter()
    seeds = list(range(offset, offset + num_dbs))
    trusted = verify_corpus(out)
    done = {s: r for s, r in trusted.items() if s in set(seeds) and r["status"] == "ok"}
    todo = [s for s in seeds if s not in done]
    jobs = [(s, str(out / db_folder_name(s))) for s in todo]
    fresh: dict[int, dict] = {}
    with open(out / JSONL_MANIFEST, "a") as fh, _progress(progress, len(seeds)) as bar:
        task = bar.add_task("generate", total=len(seeds), completed=len(done))
        if jobs:
            it = (_iter_local(jobs, cfg, workers, generator) if backend == "local"
                  else _iter_ray(jobs, cfg, workers, generator, address))
            for rec in it:
                if rec["status"] == "orphaned":
                    continue
                _append(fh, rec)
                fresh[rec["seed"]] = rec
                bar.advance(task)
    # compact: one record per seed of this corpus (all seeds ever asked for, not only this run's)
    final = {**{s: r for s, r in trusted.items()}, **fresh}
    records = [final[s] for s in sorted(final)]
    with atomic_file(out / JSONL_MANIFEST) as tmp:
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    ok = [r for r in records if r["status"] == "ok"]
    manifest = dict(format="relforge-corpus", config=cfg.to_dict(), config_hash=cfg.hash(), databases=ok)
    with atomic_file(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2))
    mine = [final[s] for s in seeds if s in final]
    return dict(out=str(out), databases=len(mine), generated=len(fresh), skipped=len(done),
                failed=sum(r["status"] == "failed" for r in mine), seconds=round(time.perf_counter() - t0, 3),
                records=mine)
