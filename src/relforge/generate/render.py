"""Turn a column's latent SCM values into its final, typed cells.

Stage 3 produces one latent array per feature column: float values for numerical / datetime / text
columns, int class codes (0..K-1) for categorical and boolean columns. :func:`render_column` maps
it to the column's declared type (``ColumnSpec.stype``) and constraints.

This is the stub contract; the SQL/semantic-schema work extends it (text vocabularies, datetime
features, enum labels, UNIQUE, integer and bounded numbers).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.db.table import Stype
from relforge.generate.schema import ColumnSpec


def render_column(spec: ColumnSpec, latent: np.ndarray, *, rng: np.random.Generator,
                  times: np.ndarray | None = None) -> pd.Series:
    """Final cells of ``spec`` from ``latent`` (NaN = missing).

    Parameters
    ----------
    spec : the column.
    latent : float array (numerical/datetime/text) or int codes (categorical/boolean), one per row.
    rng : stream for any rendering draws.
    times : the row timestamps (datetime64[ns]) of a timed table, else None.
    """
    if spec.stype == Stype.numerical:
        x = np.asarray(latent, dtype=np.float64)
        if spec.integer:
            return pd.Series(np.round(x), dtype="Float64" if np.isnan(x).any() else "int64").astype(
                "Int64" if np.isnan(x).any() else "int64")
        return pd.Series(x, dtype="float64")
    if spec.stype == Stype.boolean:
        return pd.Series(np.asarray(latent) > 0, dtype="bool")
    if spec.stype == Stype.categorical:
        codes = np.asarray(latent)
        if spec.labels:
            labels = np.asarray(spec.labels, dtype=object)
            return pd.Series(labels[codes.astype(np.int64) % len(labels)], dtype="string")
        return pd.Series(codes.astype(np.int64), dtype="int64")
    raise NotImplementedError(f"rendering {spec.stype.value} columns is not implemented yet")
