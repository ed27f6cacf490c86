"""The autocomplete task corpus of a synthetic corpus, split by database (rt_pipeline.md §4).

Every database of a corpus (``relforge corpus``) is tokenized and its autocomplete tasks are
discovered with the PluRel filters (:func:`relforge.tokenize.tasks.autocomplete_tasks`: at least two
distinct values, majority share <= 99 %, std >= 1e-4). A database with a table of more than five
foreign keys is skipped (the context format keeps at most 5 parents per row, rt_pipeline.md §2), as
is one without a usable task. The split is by database, as in ``generate_plurel_tasks``: the first
``n_heldout`` valid databases in seed order are the held-out pool (each capped at ``max_clf`` +
``max_reg`` tasks after a seeded shuffle), the remaining valid ones, in seed order, the training pool;
a model trained on "N databases" uses the first N of the training pool.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from relforge.batch import MAX_F2P
from relforge.corpus import verify_corpus
from relforge.db.io import load_database
from relforge.db.task import Task, TaskType
from relforge.errors import RelforgeError
from relforge.rng import child
from relforge.tokenize.cells import tokenize_database
from relforge.tokenize.embed import get_embedder
from relforge.tokenize.tasks import autocomplete_tasks, resolve_task

MAX_FKEYS = MAX_F2P  # rt_pipeline.md §2: f2p holds at most 5 parents per row (the batch contract)


@dataclass
class CorpusDB:
    """One usable database of a task corpus: its seed, folder, cell store and autocomplete tasks."""

    seed: int
    path: Path
    store: object  # relforge.tokenize.store.CellStore
    tasks: list[Task] = field(default_factory=list)


@dataclass
class TaskCorpus:
    """Held-out and training databases (each a :class:`CorpusDB`) plus the skipped ones (seed -> reason)."""

    heldout: list[CorpusDB]
    train: list[CorpusDB]
    skipped: dict[int, str]

    def train_dbs(self, n: int) -> list[CorpusDB]:
        """The first ``n`` databases of the training pool (refuses more than there are)."""
        if n > len(self.train):
            raise RelforgeError(f"the corpus has only {len(self.train)} usable training databases, {n} asked "
                                f"(generate more with `relforge corpus`)")
        return self.train[:n]

    def summary(self) -> dict:
        return dict(heldout=[d.seed for d in self.heldout], train=[d.seed for d in self.train],
                    heldout_tasks=sum(len(d.tasks) for d in self.heldout),
                    train_tasks=sum(len(d.tasks) for d in self.train), skipped=dict(self.skipped))


def too_many_fkeys(db) -> str | None:
    """The reason to skip ``db`` when one of its tables has more than :data:`MAX_FKEYS` foreign keys."""
    for name, t in db.tables.items():
        if len(t.fkey_col_to_pkey_table) > MAX_FKEYS:
            return f"table {name!r} has {len(t.fkey_col_to_pkey_table)} foreign keys (> {MAX_FKEYS})"
    return None


def cap_tasks(tasks: list[Task], max_clf: int, max_reg: int, *, seed: int) -> list[Task]:
    """At most ``max_clf`` classification and ``max_reg`` regression tasks after a seeded shuffle
    (rt_pipeline.md §4: held-out DBs capped at 5 clf + 5 reg)."""
    order = child(seed, "cap-tasks").permutation(len(tasks))
    clf = [tasks[i] for i in order if tasks[i].task_type == TaskType.binary_classification][:max_clf]
    reg = [tasks[i] for i in order if tasks[i].task_type != TaskType.binary_classification][:max_reg]
    keep = {id(t) for t in clf + reg}
    return [t for t in tasks if id(t) in keep]


def _usable_tasks(store, tasks: list[Task], splits: tuple[str, ...]) -> list[Task]:
    """Tasks that have seeds in every split of ``splits``."""
    out = []
    for t in tasks:
        try:
            for sp in splits:
                resolve_task(store, t, sp)
        except RelforgeError:
            continue
        out.append(t)
    return out


def load_task_corpus(corpus_dir: str | Path, n_heldout: int, *, n_train: int | None = None, embedder="hash",
                     max_clf: int = 5, max_reg: int = 5, seed: int = 0) -> TaskCorpus:
    """Tokenize a corpus folder and split its autocomplete tasks by database.

    Parameters
    ----------
    corpus_dir : a folder made by :func:`relforge.corpus.build_corpus` (its ``ok`` records are used,
        in seed order).
    n_heldout : valid databases for the held-out pool (first in seed order).
    n_train : stop after this many training databases (None: all).
    embedder : text embedder for the stores (``"hash"`` needs no model download).
    max_clf, max_reg : task cap per held-out database.
    seed : the cap's shuffle seed.
    """
    root = Path(corpus_dir)
    recs = [r for s, r in sorted(verify_corpus(root).items()) if r["status"] == "ok"]
    if not recs:
        raise RelforgeError(f"no finished databases in corpus {str(root)!r} (run `relforge corpus` first)")
    emb = get_embedder(embedder)
    heldout, train, skipped = [], [], {}
    for r in recs:
        if len(heldout) >= n_heldout and n_train is not None and len(train) >= n_train:
            break
        db = load_database(root / r["path"])
        why = too_many_fkeys(db)
        if why:
            skipped[int(r["seed"])] = why
            continue
        store = tokenize_database(db, (), embedder=emb)
        is_heldout = len(heldout) < n_heldout
        tasks = _usable_tasks(store, autocomplete_tasks(store), ("val",) if is_heldout else ("train",))
        if is_heldout:
            tasks = cap_tasks(tasks, max_clf, max_reg, seed=seed)
        if not tasks:
            skipped[int(r["seed"])] = "no autocomplete task passes the filters"
            continue
        (heldout if is_heldout else train).append(CorpusDB(int(r["seed"]), root / r["path"], store, tasks))
    if len(heldout) < n_heldout:
        raise RelforgeError(f"corpus {str(root)!r} has only {len(heldout)} usable databases, "
                            f"{n_heldout} needed for the held-out pool")
    return TaskCorpus(heldout, train, skipped)
