"""Store on disk: atomic save, memory-mapped open, corpus folders, pickling as a path."""
import json
import pickle

import numpy as np
import pytest

from relforge.errors import RelforgeError
from relforge.tokenize import ContextSampler, SamplerConfig, open_corpus, open_store, save_corpus, save_store
from relforge.tokenize.cells import build_cells, embed_store

from tok_helpers import make_db


def test_roundtrip_is_memory_mapped_and_identical(toy_store, tmp_path):
    save_store(toy_store, tmp_path / "s")
    st = open_store(tmp_path / "s")
    assert isinstance(st["cell_value"], np.memmap)
    assert st.index == json.loads(json.dumps(toy_store.index))
    for k in toy_store.arrays:
        assert np.array_equal(st[k], toy_store[k])
    assert st.get_texts() == toy_store.get_texts()
    # sampling from the opened store gives the same batches as from memory
    cfg = SamplerConfig(ctx_len=64, batch_size=4, seed=3)
    a = ContextSampler([(toy_store, "events.amount", "train")], cfg).batch(1)
    b = ContextSampler([(st, "events.amount", "train")], cfg).batch(1)
    for k in a:
        assert np.array_equal(np.asarray(a[k]), np.asarray(b[k]))


def test_refuses_non_empty_output_and_bad_folders(toy_store, tmp_path):
    save_store(toy_store, tmp_path / "s")
    with pytest.raises(RelforgeError, match="not empty"):
        save_store(toy_store, tmp_path / "s")
    save_store(toy_store, tmp_path / "s", overwrite=True)
    with pytest.raises(RelforgeError, match="not a cell store"):
        open_store(tmp_path)
    (tmp_path / "s" / "cell_col.npy").unlink()
    with pytest.raises(RelforgeError, match="cell_col"):
        open_store(tmp_path / "s")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "index.json").write_text("{not json")
    with pytest.raises(RelforgeError, match="corrupt"):
        open_store(tmp_path / "bad")


def test_corpus_of_stores_samples_across_databases(tmp_path):
    stores = [embed_store(build_cells(make_db(s, name=f"db{s}")), "hash:16") for s in range(3)]
    save_corpus(stores, tmp_path / "c")
    opened = open_corpus(tmp_path / "c")
    assert [s.name for s in opened] == ["db0", "db1", "db2"]
    s = ContextSampler([(st, "events.amount", "train") for st in opened], SamplerConfig(ctx_len=64, batch_size=12))
    b = s.batch(0)
    assert len(set(b["task_idx"].tolist())) > 1
    # column ids are batch-local and distinct per (database, table, column)
    U = len(b["col_emb"])
    assert b["col_id"].max() == U - 1 and b["col_id"][b["is_padding"]].max() == -1
    pairs = set()
    for i in range(12):
        for c in np.unique(b["col_id"][i][~b["is_padding"][i]]):
            pairs.add((int(c), int(b["task_idx"][i])))
    owners = {}
    for c, t in pairs:
        owners.setdefault(c, set()).add(s.task_store[t])
    assert all(len(v) == 1 for v in owners.values())  # a column id never spans two databases
    assert open_corpus(tmp_path / "c" / "db1")[0].name == "db1"


def test_pickled_store_travels_as_its_path(toy_store, tmp_path):
    save_store(toy_store, tmp_path / "s")
    st = open_store(tmp_path / "s")
    blob = pickle.dumps(st)
    assert len(blob) < 2000
    st2 = pickle.loads(blob)
    assert np.array_equal(st2["cell_value"], st["cell_value"])
    s = ContextSampler([(st, "events.amount", "train")], SamplerConfig(ctx_len=64, batch_size=4))
    assert len(pickle.dumps(s)) < 200_000


def test_arrays_are_mapped_lazily_and_checked(toy_store, tmp_path):
    save_store(toy_store, tmp_path / "s")
    st = open_store(tmp_path / "s")
    assert "cell_col" not in dict.keys(st.arrays)  # nothing mapped yet
    np.save(tmp_path / "s" / "node_time.npy", np.zeros(3, dtype=np.int64))
    st = open_store(tmp_path / "s")
    with pytest.raises(RelforgeError, match="node_time"):
        st["node_time"]
