"""MovieLens ml-latest-small (data/movielens_small): users, movies, ratings, tags.

Choices (documented in the README section "Real databases and tasks"):

- ``users``: the implicit entity, one row per distinct ``userId`` of ratings.csv/tags.csv (610);
  it has no feature columns.
- ``movies``: movieId, title (text, release year inside), genres (``|``-separated, text).
  links.csv (external imdb/tmdb ids) is not loaded.
- ``ratings`` and ``tags``: ``timestamp`` from Unix seconds (UTC, naive datetime); stably sorted
  by time; given a surrogate primary key (``ratingId``, ``tagId`` = row position after sorting),
  since the source keys are composite.
- Keys re-indexed to ``0..n-1`` (users in increasing source userId, movies in file order).
- Cut-offs: ``val_timestamp = 2016-01-01``, ``test_timestamp = 2017-01-01``; the activity runs to
  2018-09-24 (about 45 active users a year after 2010).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.table import Stype
from relforge.realdata._common import build_database, read_csv, require_cols, source_dir, to_ns

NAME = "movielens"
SUBDIR = "movielens_small"
VAL_TIMESTAMP = pd.Timestamp("2016-01-01")
TEST_TIMESTAMP = pd.Timestamp("2017-01-01")

STYPES = {
    "movies": {"title": Stype.text, "genres": Stype.text},
    "ratings": {"rating": Stype.numerical},
    "tags": {"tag": Stype.text},
}


def _events(df: pd.DataFrame, pk: str) -> pd.DataFrame:
    df["timestamp"] = to_ns(pd.to_datetime(df["timestamp"].astype(np.int64), unit="s"))
    df = df.sort_values("timestamp", kind="stable").reset_index(drop=True)
    df.insert(0, pk, np.arange(len(df), dtype=np.int64))
    return df


def load_movielens(data_dir: str | Path | None = None) -> Database:
    """Load MovieLens small as 4 tables (users, movies, ratings, tags).

    Parameters
    ----------
    data_dir : folder holding ``movielens_small/``; default ``relforge.settings.data_dir()``.

    Returns
    -------
    Database named ``"movielens"``, ``val_timestamp=2016-01-01``, ``test_timestamp=2017-01-01``.
    """
    src = source_dir(SUBDIR, data_dir)
    movies = read_csv(src / "movies.csv", keep_default_na=False, na_values=[""])
    ratings = read_csv(src / "ratings.csv")
    tags = read_csv(src / "tags.csv", keep_default_na=False, na_values=[""])
    require_cols(movies, ["movieId", "title", "genres"], "movielens file 'movies.csv'")
    require_cols(ratings, ["userId", "movieId", "rating", "timestamp"], "movielens file 'ratings.csv'")
    require_cols(tags, ["userId", "movieId", "tag", "timestamp"], "movielens file 'tags.csv'")
    ratings = _events(ratings, "ratingId")
    tags = _events(tags, "tagId")
    ratings["rating"] = ratings["rating"].astype(np.float64)
    users = pd.DataFrame({"userId": np.union1d(ratings["userId"].to_numpy(), tags["userId"].to_numpy())})

    specs = {
        "users": dict(df=users, pkey="userId"),
        "movies": dict(df=movies, pkey="movieId"),
        "ratings": dict(df=ratings, pkey="ratingId", fkeys={"userId": "users", "movieId": "movies"}, time="timestamp"),
        "tags": dict(df=tags, pkey="tagId", fkeys={"userId": "users", "movieId": "movies"}, time="timestamp"),
    }
    return build_database(
        NAME, specs, val_timestamp=VAL_TIMESTAMP, test_timestamp=TEST_TIMESTAMP, stypes=STYPES,
        meta={"source": str(src), "origin": "GroupLens ml-latest-small (2018)",
              "licence": "research only, no commercial use; cite Harper & Konstan 2015"},
    )
