"""Predictions on a user's own database with a pretrained Relational Transformer.

Two forms (README "Predict on your own database"):

- **Autocomplete** (:func:`autocomplete`): fill a number/boolean column of one table for the rows
  where it is missing, or (``holdout_after``) for the rows after a timestamp, scored against the
  true values (AUROC for booleans, R2 for numbers).
- **Forecast** (:func:`forecast`, from a TOML task file, :func:`load_taskfile`): a SQL label query
  over a window ``(t, t + horizon]`` per (entity, cut-off ``t``), as the real-data tasks of
  ``relforge.realdata.tasks``. History cut-offs before the first prediction time become in-context
  examples (labels visible only once known: cut-off + horizon <= seed time); the rows to predict are
  masked targets.

Leakage guards: the rows to predict never show their true value (their target cell is a masked
placeholder; hidden cells of *other* rows are removed from every context); normalisation
statistics come from the period before the (first) prediction time only (``val_timestamp`` of the
tokenized copy), and the target column's statistics from known values only.

Checkpoints are read by ``relforge.model.checkpoint`` (weights, model config, text embedder, context
settings); a database is tokenized with the checkpoint's embedder and contexts are built with its
context settings. With no checkpoint the packaged default model is used.

Modules: ``autocomplete`` (fill / hold out a column), ``taskfile`` (TOML forecast task files and
:func:`forecast`), ``userdb`` (reading the user's database, writing predictions), ``command``
(``relforge predict``). The model runs through ``relforge.inference``, the one inference path;
library code that needs a model toolkit imports that, not this user-facing package.
"""
from relforge.predict.autocomplete import Prediction, autocomplete
from relforge.predict.command import run_predict
from relforge.predict.taskfile import MAX_HISTORY, TaskFile, forecast, load_taskfile
from relforge.predict.userdb import infer_time_cols, load_user_db, write_frame

__all__ = ["Prediction", "TaskFile", "autocomplete", "forecast", "load_taskfile", "load_user_db", "infer_time_cols",
           "write_frame", "run_predict", "MAX_HISTORY"]
