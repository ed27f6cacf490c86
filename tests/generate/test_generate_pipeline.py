"""End-to-end generation (generator.md §2-5): validity, determinism, keys, time, types."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from relforge.db import Stype
from relforge.errors import RelforgeError
from relforge.generate.pipeline import generate_database
from relforge.metrics import activity_autocorrs

SMALL = {"schema": {"n_tables": (3, 8), "entity_rows": (100, 300), "activity_rows": (300, 1200)}}


@pytest.fixture(scope="module")
def dbs():
    return [generate_database(s, SMALL) for s in range(6)]


def test_validate_and_keys(dbs):
    for db in dbs:
        db.validate()
        for name, t in db.tables.items():
            pk = t.df[t.pkey_col]
            assert pk.dtype == np.int64 and (pk.to_numpy() == np.arange(len(t))).all()
            for c, parent in t.fkey_col_to_pkey_table.items():
                s = t.df[c]
                assert str(s.dtype) == "Int64"
                v = s.dropna().to_numpy()
                assert ((v >= 0) & (v < len(db[parent]))).all()


def test_time_and_types(dbs):
    for db in dbs:
        assert db.val_timestamp is not None and db.val_timestamp <= db.test_timestamp
        for name, t in db.tables.items():
            if t.kind == "activity":
                assert t.time_col is not None
            if t.time_col:
                ts = t.df[t.time_col]
                assert ts.dtype == "datetime64[ns]" and ts.is_monotonic_increasing and not ts.isna().any()
            for c in t.feature_cols:
                st = t.stypes[c]
                s = t.df[c]
                if st == Stype.numerical:
                    assert pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
                    assert np.isfinite(s.dropna().to_numpy(dtype=float)).all()
                elif st == Stype.boolean:
                    assert pd.api.types.is_bool_dtype(s.dtype)


def test_meta_and_distinct_seeds(dbs):
    assert dbs[0].name == "relforge-0" and dbs[0].meta["seed"] == 0
    assert {"config_hash", "generator_version", "layout"} <= set(dbs[0].meta)
    shapes = {tuple((n, t.df.shape) for n, t in db.tables.items()) for db in dbs}
    assert len(shapes) == len(dbs)


def test_same_seed_same_hash_across_processes():
    code = ("from relforge.generate.pipeline import generate_database as g;"
            f"print(g(11, {SMALL!r}).content_hash())")
    hs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
          for _ in range(2)]
    assert hs[0] == hs[1] == generate_database(11, SMALL).content_hash()


def test_n_rows_override_and_bad_seed():
    db = generate_database(3, SMALL)
    name = next(iter(db.tables))
    db2 = generate_database(3, SMALL, n_rows={name: 17})
    assert len(db2[name]) == 17
    with pytest.raises(RelforgeError):
        generate_database(-1, SMALL)
    with pytest.raises(RelforgeError):
        generate_database(3, SMALL, n_rows={"nope": 3})
