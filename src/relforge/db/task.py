"""``Task``: a prediction task attached to a database (relbench-style), a plain container.

Two kinds share one container:

- **forecast**: a task table with one row per (entity, timestamp) and a label computed from the
  future window ``(timestamp, timestamp + horizon]``. ``entity_col`` holds the entity table's primary
  key value; ``time_col`` the cut-off; ``target_col`` the label. Splits are separate frames.
- **autocomplete**: predict a column of a database table from everything else (``table``,
  ``target_col``); no task frames are needed (rows of the table are the examples, split by the
  database's val/test timestamps when the table is timed).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import pandas as pd

from relforge.errors import RelforgeError


class TaskType(str, Enum):
    """What a task predicts (a ``str`` enum: equal to, and stored as, its value)."""

    binary_classification = "binary_classification"
    regression = "regression"

    def __str__(self) -> str:
        return self.value


class TaskKind(str, Enum):
    """How a task's examples are made: a label query over a future window, or a masked column."""

    forecast = "forecast"
    autocomplete = "autocomplete"

    def __str__(self) -> str:
        return self.value


TASK_TYPES = tuple(t.value for t in TaskType)


@dataclass
class Task:
    name: str
    kind: str  # a TaskKind ("forecast" | "autocomplete")
    task_type: str  # a TaskType ("binary_classification" | "regression")
    target_col: str
    table: str | None = None  # autocomplete: the table whose column is masked
    entity_table: str | None = None  # forecast: the entity table
    entity_col: str | None = None  # forecast: column of the task frames holding entity pkeys
    time_col: str | None = "timestamp"  # forecast: cut-off time column of the task frames
    horizon: pd.Timedelta | None = None
    drop_cols: tuple[str, ...] = ()  # leakage columns never shown in contexts
    splits: dict[str, pd.DataFrame] = field(default_factory=dict)  # "train" / "val" / "test"

    def validate(self) -> None:
        if self.kind not in tuple(TaskKind):
            raise RelforgeError(f"task {self.name!r}: unknown kind {self.kind!r}")
        if self.task_type not in TASK_TYPES:
            raise RelforgeError(f"task {self.name!r}: unknown task type {self.task_type!r}")
        if self.kind == TaskKind.autocomplete and not self.table:
            raise RelforgeError(f"task {self.name!r}: autocomplete tasks need a table")
        if self.kind == TaskKind.forecast:
            if not (self.entity_table and self.entity_col and self.time_col):
                raise RelforgeError(f"task {self.name!r}: forecast tasks need entity_table, entity_col and time_col")
            for split, df in self.splits.items():
                for c in (self.entity_col, self.time_col, self.target_col):
                    if c not in df.columns:
                        raise RelforgeError(f"task {self.name!r}: {split} table lacks column {c!r}")
