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
from relforge.db.io import atomic_file, check_output_dir, save_database
from relforge.errors import RelforgeError
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
