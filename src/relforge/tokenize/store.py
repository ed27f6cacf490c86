"""``CellStore``: one tokenized database as flat arrays, memory-mapped from disk.

On disk a store is a folder::

    STORE/index.json        tables, columns (with fitted stats), tasks, datetime stats, embedder
    STORE/texts.json        the text vocabulary (cell strings), for inspection only
    STORE/<array>.npy       the arrays below, opened with ``np.load(mmap_mode="r")``

A corpus is a folder of stores plus ``stores.json`` (the store names, in order); opening a corpus
of thousands of databases reads one small JSON per store and maps the arrays lazily.

Arrays (N rows = nodes, C cells, E/T edges, U columns, V texts; rt_pipeline.md §1):

=============  ===========  ================================================================
name           dtype/shape  content
=============  ===========  ================================================================
cell_ptr       i64 [N+1]    cells of node n are ``cell_ptr[n]:cell_ptr[n+1]`` (row order)
cell_col       i32 [C]      column id (index into ``columns`` / ``col_emb``)
cell_type      i8  [C]      :class:`CellType`
cell_value     f32 [C]      normalised value (0 for text)
cell_text      i32 [C]      index into ``text_emb`` for text cells, else -1
node_table     i32 [N]      table id (index into ``tables``)
node_time      i64 [N]      row time, seconds since epoch; INT64_MIN = untimed
node_key       i64 [N]      primary-key value (integer keys) or row position
node_split     i8  [N]      task rows: 0 train / 1 val / 2 test; database rows: -1
node_f2p       i32 [N,5]    parent node ids by foreign key, -1 = none
p2f_ptr/child  i64/i32      children (database rows) of each node, sorted by child time (untimed first)
p2t_ptr/child  i64/i32      task-table rows attached to each entity node, sorted by (table, time)
col_emb        f32 [U,d]    embedding of "<column> of <table>"
text_emb       f32 [V,d]    embedding of each text value
=============  ===========  ================================================================
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relforge.batch import MAX_F2P
from relforge.db.io import atomic_dir
from relforge.errors import RelforgeError

FORMAT = "relforge-cellstore"
FORMAT_VERSION = 1
UNTIMED = np.iinfo(np.int64).min

ARRAYS = ("cell_ptr", "cell_col", "cell_type", "cell_value", "cell_text", "node_table", "node_time", "node_key",
          "node_split", "node_f2p", "p2f_ptr", "p2f_child", "p2t_ptr", "p2t_child", "col_emb", "text_emb")


@dataclass
class CellStore:
    """A tokenized database: ``index`` (JSON-able metadata) plus flat ``arrays`` (see module doc).

    ``index`` keys: ``name``, ``tables`` (list of {name, offset, n_rows, pkey_col, fkeys, time_col,
    is_task, max_cells}), ``columns`` (list of {table, name, type, role, stats}), ``tasks`` (forecast
    and autocomplete task definitions), ``datetime_stats``, ``val_timestamp``/``test_timestamp``
    (ISO or None), ``embedder`` ({name, dim} or None), ``n_nodes``, ``n_cells``.
    """

    index: dict
    arrays: dict[str, np.ndarray]
    texts: list[str] | None = None
    path: Path | None = None
    _table_pos: dict = field(default_factory=dict, repr=False)
    _col_pos: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        self._table_pos = {t["name"]: i for i, t in enumerate(self.index["tables"])}
        self._col_pos = {(c["table"], c["name"]): i for i, c in enumerate(self.index["columns"])}

    # ---- lookups
    @property
    def name(self) -> str:
        return self.index["name"]

    @property
    def n_nodes(self) -> int:
        return int(self.index["n_nodes"])

    @property
    def n_cells(self) -> int:
        return int(self.index["n_cells"])

    @property
    def tables(self) -> list[dict]:
        return self.index["tables"]

    @property
    def columns(self) -> list[dict]:
        return self.index["columns"]

    @property
    def d_text(self) -> int:
        """Embedding width (0 when the store has no embeddings yet)."""
        e = self.index.get("embedder")
        return 0 if e is None else int(e["dim"])

    @property
    def n_texts(self) -> int:
        n = self.index.get("n_texts")
        return int(n) if n is not None else len(self.arrays["text_emb"])

    def table_id(self, table: str) -> int:
        """Index of ``table``; RelforgeError naming the store and table when unknown."""
        try:
            return self._table_pos[table]
        except KeyError:
            known = ", ".join(t["name"] for t in self.tables if not t["is_task"])
            raise RelforgeError(f"store {self.name!r} has no table {table!r} (tables: {known})") from None

    def col_id(self, table: str, column: str) -> int:
        """Column id of ``table.column``; a key column or unknown column is a RelforgeError."""
        ti = self.table_id(table)
        t = self.tables[ti]
        if column == t["pkey_col"] or column in t["fkeys"]:
            raise RelforgeError(f"column {column!r} of table {table!r} is a key column (keys are graph edges, not cells)")
        try:
            return self._col_pos[(ti, column)]
        except KeyError:
            cols = ", ".join(c["name"] for c in self.columns if c["table"] == ti)
            raise RelforgeError(f"table {table!r} of store {self.name!r} has no column {column!r} (columns: {cols})") from None

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def node_range(self, table: str | int) -> tuple[int, int]:
        t = self.tables[table if isinstance(table, int) else self.table_id(table)]
        return int(t["offset"]), int(t["offset"] + t["n_rows"])

    def get_texts(self) -> list[str]:
        if self.texts is None and self.path is not None:
            self.texts = json.loads((self.path / "texts.json").read_text())
        return self.texts or []

    def validate(self) -> None:
        """Check array shapes against the index; RelforgeError naming the first mismatch."""
        a = self.arrays
        expect = _expected_shapes(self.index)
        for k in ARRAYS:
            if k not in a:
                raise RelforgeError(f"store {self.name!r}: array {k!r} is missing")
        for k, shp in expect.items():
            if a[k].shape != shp:
                raise RelforgeError(f"store {self.name!r}: array {k!r} has shape {a[k].shape}, expected {shp}")
        if a["col_emb"].shape != (len(self.columns), self.d_text) or a["text_emb"].shape != (self.n_texts, self.d_text):
            raise RelforgeError(f"store {self.name!r}: embedding tables do not match the index")
        if len(a["col_emb"]) != len(self.columns):
            raise RelforgeError(f"store {self.name!r}: col_emb has {len(a['col_emb'])} rows for {len(self.columns)} columns")

    # ---- pickling: a store opened from disk travels as its path (DataLoader workers re-map it)
    def __getstate__(self):
        if self.path is not None:
            return {"path": str(self.path)}
        return {"index": self.index, "arrays": self.arrays, "texts": self.texts}

    def __setstate__(self, state):
        if "path" in state:
            other = open_store(state["path"])
            self.__dict__.update(other.__dict__)
        else:
            self.__init__(state["index"], state["arrays"], state["texts"])


class _LazyArrays(dict):
    """The arrays of a store folder, each memory-mapped on first access (opening a corpus of
    thousands of stores reads only their small index files)."""

    def __init__(self, path: Path, mmap: bool, expect: dict):
        super().__init__()
        self._path, self._mmap, self._expect = path, mmap, expect

    def __missing__(self, k):
        if k not in ARRAYS:
            raise KeyError(k)
        p = self._path / f"{k}.npy"
        try:
            a = np.load(p, mmap_mode="r" if self._mmap else None, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise RelforgeError(f"cannot read {str(p)!r}: {e}") from None
        want = self._expect.get(k)
        if want is not None and a.shape != want:
            raise RelforgeError(f"store {str(self._path)!r}: array {k!r} has shape {a.shape}, expected {want}")
        self[k] = a
        return a

    def __contains__(self, k) -> bool:
        return k in ARRAYS

    def __iter__(self):
        return iter(ARRAYS)

    def keys(self):
        return list(ARRAYS)

    def __reduce__(self):  # pickles as a plain dict of the loaded arrays (stores pickle by path anyway)
        return (dict, ({k: self[k] for k in ARRAYS},))


def _expected_shapes(index: dict) -> dict:
    n, c = int(index["n_nodes"]), int(index["n_cells"])
    return {"cell_ptr": (n + 1,), "cell_col": (c,), "cell_type": (c,), "cell_value": (c,), "cell_text": (c,),
            "node_table": (n,), "node_time": (n,), "node_key": (n,), "node_split": (n,),
            "node_f2p": (n, MAX_F2P), "p2f_ptr": (n + 1,), "p2t_ptr": (n + 1,)}


def save_store(store: CellStore, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``store`` atomically to the folder ``path`` (refuses a non-empty folder unless ``overwrite``)."""
    store.validate()
    with atomic_dir(path, overwrite=overwrite) as tmp:
        write_store(store, tmp)
    return Path(path)


def write_store(store: CellStore, folder: Path) -> None:
    """Write ``store`` into an existing folder, non-atomically (see :func:`save_store`)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k in ARRAYS:
        np.save(folder / f"{k}.npy", np.ascontiguousarray(store.arrays[k]), allow_pickle=False)
    (folder / "texts.json").write_text(json.dumps(store.get_texts()))
    (folder / "index.json").write_text(json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **store.index}))


def open_store(path: str | Path, mmap: bool = True) -> CellStore:
    """Open a store folder; arrays are memory-mapped (``mmap=True``) so opening is O(1) in data size."""
    path = Path(path)
    f = path / "index.json"
    if not f.is_file():
        raise RelforgeError(f"{str(path)!r} is not a cell store (no index.json; create one with `relforge tokenize`)")
    try:
        index = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise RelforgeError(f"corrupt store index {str(f)!r}: {e}") from None
    if index.get("format") != FORMAT:
        raise RelforgeError(f"{str(f)!r} is not a relforge cell store index")
    if index.get("format_version") != FORMAT_VERSION:
        raise RelforgeError(f"store {str(path)!r} has format version {index.get('format_version')}, expected {FORMAT_VERSION}")
    present = set(os.listdir(path))
    for k in ARRAYS:
        if f"{k}.npy" not in present:
            raise RelforgeError(f"store {str(path)!r} lacks {k}.npy")
    index = {k: v for k, v in index.items() if k not in ("format", "format_version")}
    try:
        arrays = _LazyArrays(path, mmap, _expected_shapes(index))
    except (KeyError, TypeError, ValueError) as e:
        raise RelforgeError(f"corrupt store index {str(f)!r}: {e}") from None
    return CellStore(index, arrays, None, path.resolve())


# ------------------------------------------------------------------------------------ corpus
CORPUS_INDEX = "stores.json"  # (not corpus.json: that name is the database-corpus manifest)


def save_corpus(stores: list[CellStore], path: str | Path, overwrite: bool = False) -> Path:
    """Write several stores as one corpus folder: ``PATH/<store name>/`` plus ``stores.json``."""
    names = [s.name for s in stores]
    if len(set(names)) != len(names):
        raise RelforgeError("corpus stores need distinct names")
    with atomic_dir(path, overwrite=overwrite) as tmp:
        for s in stores:
            write_store(s, tmp / s.name)
        (tmp / CORPUS_INDEX).write_text(json.dumps({"format": "relforge-corpus", "stores": names}))
    return Path(path)


def open_corpus(path: str | Path) -> list[CellStore]:
    """Open a corpus folder (``stores.json`` listing store folders) or a single store folder."""
    path = Path(path)
    if (path / "index.json").is_file():
        return [open_store(path)]
    f = path / CORPUS_INDEX
    if not f.is_file():
        raise RelforgeError(f"{str(path)!r} is neither a cell store nor a corpus (no index.json / {CORPUS_INDEX})")
    try:
        names = json.loads(f.read_text())["stores"]
    except (json.JSONDecodeError, KeyError) as e:
        raise RelforgeError(f"corrupt corpus index {str(f)!r}: {e}") from None
    return [open_store(path / n) for n in names]
