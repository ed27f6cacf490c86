"""Schema-graph layout and PNG drawing."""
import numpy as np
import pandas as pd
import pytest

import relforge
from relforge.db import Database, Table
from relforge.errors import RelforgeError
from relforge.plotting import plot_schema, schema_layers, schema_layout

SMALL = {"schema": {"n_tables": (5, 8), "entity_rows": (10, 20), "activity_rows": (20, 40), "n_features": (1, 2)}}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_layers_put_parents_above_children(seed):
    db = relforge.synthesize(seed, SMALL)
    layers = schema_layers(db)
    flat = [n for lay in layers for n in lay]
    assert sorted(flat) == sorted(db.tables)  # every table exactly once
    level = {n: k for k, lay in enumerate(layers) for n in lay}
    for parent, child, _ in db.edges():
        if parent != child:
            assert level[parent] < level[child], (parent, child)
    xy = schema_layout(db)
    assert len(set(xy.values())) == len(xy)  # no two boxes on the same spot


def _tiny(n):
    return pd.DataFrame({"id": np.arange(n, dtype=np.int64), "ref": pd.array([None] * n, dtype="Int64")})


def test_cycles_and_self_loops_terminate(tmp_path):
    db = Database({"a": Table(_tiny(2), "id", {"ref": "b"}), "b": Table(_tiny(2), "id", {"ref": "a"}),
                   "c": Table(_tiny(2), "id", {"ref": "c"})})
    layers = schema_layers(db)
    assert sorted(n for lay in layers for n in lay) == ["a", "b", "c"]
    assert layers[0] == ["c"]  # a self reference does not push a table down
    out = plot_schema(db, tmp_path / "s.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["s.png"]


def test_bad_plot_targets(tmp_path):
    db = Database({"t": Table(_tiny(1), "id")})
    with pytest.raises(RelforgeError, match="folder"):
        plot_schema(db, tmp_path)
    with pytest.raises(RelforgeError, match="no tables"):
        plot_schema(Database({}), tmp_path / "x.png")
