"""Cell semantic types: the one switch for how a cell is encoded (rt_pipeline.md §1 "Cells").

The enum values are the RT semantic-type ids (Number=0, Text=1, DateTime=2, Boolean=3) and are what
the batch field ``sem_type`` carries.
"""
from __future__ import annotations

import pandas as pd

from relforge.batch import TARGET_TYPES, CellType  # noqa: F401 (the batch contract owns the enum)
from relforge.db.table import Stype


def cell_type_of(stype: Stype, dtype) -> CellType:
    """Cell type of a column from its relforge ``Stype`` and pandas dtype.

    numerical -> number, boolean -> boolean, datetime -> datetime, text -> text. A *categorical*
    column follows its storage, as RT's preprocessor does by dtype (rt_pipeline.md §1): numeric codes
    stay numbers, strings/categories become text tokens.
    """
    stype = Stype(stype)
    if stype is Stype.numerical:
        return CellType.number
    if stype is Stype.boolean:
        return CellType.boolean
    if stype is Stype.datetime:
        return CellType.datetime
    if stype is Stype.text:
        return CellType.text
    # categorical
    if pd.api.types.is_bool_dtype(dtype):
        return CellType.boolean
    if pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype):
        return CellType.number
    return CellType.text
