"""The batch contract between the context sampler (producer) and the model (consumer).

Both sides import this module and nothing of each other. A batch is a dict of numpy arrays built
by :class:`relforge.tokenize.sampler.ContextSampler` (``B`` contexts of ``S`` cells each), turned
into torch tensors once, by :func:`to_torch`, before it reaches the model:

==================  =============  ==========================================================
field               dtype, shape   meaning
==================  =============  ==========================================================
``node_idx``        i32 [B,S]      local row id of the cell's row (-1: padding)
``f2p``             i32 [B,S,F]    local ids of the row's parents, one per foreign key (-1: none);
                                   ``F`` = :data:`MAX_F2P`
``col_id``          i32 [B,S]      column (row of ``col_emb``) of the cell
``table_id``        i32 [B,S]      table of the cell
``sem_type``        i32 [B,S]      :class:`CellType` of the cell
``value``           f32 [B,S]      normalised number / datetime / boolean (+1/-1) value; 0 if masked
``text_id``         i32 [B,S]      row of ``text_emb`` of a text cell (-1: none)
``is_target``       bool [B,S]     cells to predict (masked: their value is hidden)
``target``          f32 [B,S]      true value of target cells
``is_padding``      bool [B,S]     padding positions
``timestamp``       i64 [B,S]      time of the cell's row (for leakage checks)
``col_emb``         f32 [C,D]      column-name embeddings (``D`` = RTConfig.d_text)
``text_emb``        f32 [T,D]      text-value embeddings
``task_idx``        i64 [B]        task of each context
``seed_row``        i64 [B]        store node of each context's seed row
``true_batch_size`` int            contexts that are real (the rest repeat to fill the batch)
``row_node``        i64 [B,R]      store node of each local row; ``n_rows``, ``n_peers`` [B]
==================  =============  ==========================================================
"""
from __future__ import annotations

from enum import IntEnum

import numpy as np

#: parent slots per row: RT follows at most 5 foreign keys of a row (rt_pipeline.md §1 "FK cap");
#: databases with a table of more foreign keys are skipped by the experiments
MAX_F2P = 5

#: a forecast context's label history: the entity's most recent closed labels it shows (0: all of
#: them, up to half the context; -1: none, a diagnostic of what the rest of the context tells).
#: One default for the sampler, training, fine-tuning and the settings a checkpoint records; chosen
#: on the real tasks' validation splits (docs/results.md, prior benchmark, session 10)
LABEL_HISTORY = 3

BATCH_FIELDS = ("node_idx", "f2p", "col_id", "table_id", "sem_type", "value", "text_id", "is_target", "target",
                "is_padding", "timestamp", "col_emb", "text_emb", "task_idx", "seed_row", "true_batch_size",
                "row_node", "n_rows", "n_peers")


class CellType(IntEnum):
    """Semantic type of a cell token, the values the batch field ``sem_type`` carries (rt_pipeline.md
    §1 "Cells": Number=0, Text=1, DateTime=2, Boolean=3)."""

    number = 0
    text = 1
    datetime = 2
    boolean = 3


N_CELL_TYPES = len(CellType)

#: Cell types a task may predict (text targets have no regression/classification head).
TARGET_TYPES = (CellType.number, CellType.boolean)


def to_torch(batch: dict) -> dict:
    """numpy batch -> dict of torch tensors (zero-copy); non-array fields (``true_batch_size``) stay
    as they are and tensors pass through. The one conversion between sampler and model."""
    import torch

    return {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in batch.items()}
