"""Formula 1 (Ergast CSV dump) cleaned exactly the way RelBench builds ``rel-f1``.

What the loader does (data/f1/README.md, "How RelBench builds rel-f1"):

- 9 tables: races, circuits, drivers, constructors, results, standings (driver_standings.csv),
  constructor_results, constructor_standings, qualifying. status, seasons, pit_stops,
  sprint_results and lap_times are not used.
- Dropped columns: races url and fp1/fp2/fp3/quali/sprint ``_date``/``_time``; circuits url;
  drivers number, url; constructors url; results positionText, time, fastestLapTime,
  fastestLapSpeed; standings and constructor_standings positionText; constructor_results status;
  qualifying q1, q2, q3.
- Missing values (the literal ``\\N``): races.time ``\\N`` -> ``00:00:00`` and ``date := date + " " +
  time`` as a datetime (``time`` kept); circuits and results ``\\N`` -> NaN (circuits.alt float;
  results rank, number, grid, position, points, laps, milliseconds, fastestLap numeric).
  drivers.code keeps the literal ``\\N`` string, as in rel-f1. drivers.dob is a datetime.
- Time: every event table gets its race's datetime as ``date``; **qualifying.date is the race
  datetime minus 1 day**. circuits, drivers, constructors are static.
- results.statusId stays a plain integer column (status is not loaded), typed categorical.
- Keys: timed tables are stably sorted by ``date``, then every primary key becomes ``0..n-1``
  and foreign keys are remapped; static tables keep file order, so ``driverId`` is the 0-based
  row position in drivers.csv.
- ``val_timestamp = 2005-01-01``, ``test_timestamp = 2010-01-01``. The full data (to 2024-12-08)
  is returned; use ``db.upto(db.test_timestamp)`` for training-time views.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.table import Stype
from relforge.realdata._common import build_database, read_csv, require_cols, source_dir, to_ns

NAME = "f1"
SUBDIR = "f1"
VAL_TIMESTAMP = pd.Timestamp("2005-01-01")
TEST_TIMESTAMP = pd.Timestamp("2010-01-01")
NULL = r"\N"

#: rel-f1 table -> (file, pkey, fkeys, dropped columns)
TABLES: dict[str, tuple[str, str, dict[str, str], tuple[str, ...]]] = {
    "races": (
        "races.csv", "raceId", {"circuitId": "circuits"},
        ("url", "fp1_date", "fp1_time", "fp2_date", "fp2_time", "fp3_date", "fp3_time",
         "quali_date", "quali_time", "sprint_date", "sprint_time"),
    ),
    "circuits": ("circuits.csv", "circuitId", {}, ("url",)),
    "drivers": ("drivers.csv", "driverId", {}, ("number", "url")),
    "results": (
        "results.csv", "resultId", {"raceId": "races", "driverId": "drivers", "constructorId": "constructors"},
        ("positionText", "time", "fastestLapTime", "fastestLapSpeed"),
    ),
    "standings": ("driver_standings.csv", "driverStandingsId", {"raceId": "races", "driverId": "drivers"}, ("positionText",)),
    "constructors": ("constructors.csv", "constructorId", {}, ("url",)),
    "constructor_results": ("constructor_results.csv", "constructorResultsId", {"raceId": "races", "constructorId": "constructors"}, ("status",)),
    "constructor_standings": ("constructor_standings.csv", "constructorStandingsId", {"raceId": "races", "constructorId": "constructors"}, ("positionText",)),
    "qualifying": ("qualifying.csv", "qualifyId", {"raceId": "races", "driverId": "drivers", "constructorId": "constructors"}, ("q1", "q2", "q3")),
}

RESULTS_NUMERIC = ("rank", "number", "grid", "position", "points", "laps", "milliseconds", "fastestLap")

STYPES = {
    "races": {"year": Stype.numerical, "round": Stype.numerical, "name": Stype.categorical, "time": Stype.categorical},
    "circuits": {"country": Stype.categorical, "location": Stype.categorical},
    "drivers": {"code": Stype.categorical, "nationality": Stype.categorical},
    "constructors": {"nationality": Stype.categorical},
    "results": {"statusId": Stype.categorical},
}


def load_f1(data_dir: str | Path | None = None) -> Database:
    """Load the Ergast CSVs as rel-f1 (9 tables, relbench cleaning and re-indexing).

    Parameters
    ----------
    data_dir : folder holding ``f1/``; default ``relforge.settings.data_dir()``.

    Returns
    -------
    Database named ``"f1"`` with ``val_timestamp=2005-01-01``, ``test_timestamp=2010-01-01``.

    Notes
    -----
    See the module docstring and data/f1/README.md for every cleaning step.
    """
    src = source_dir(SUBDIR, data_dir)
    raw: dict[str, pd.DataFrame] = {}
    for t, (fname, pk, fks, drop) in TABLES.items():
        # only results and circuits turn \N into NaN (relbench); elsewhere \N is handled below or kept
        na = [NULL] if t in ("results", "circuits") else None
        df = read_csv(src / fname, na_values=na)
        require_cols(df, [pk, *fks, *drop], f"f1 file {fname!r}")
        raw[t] = df.drop(columns=list(drop))

    races = raw["races"]
    require_cols(races, ["date", "time"], "f1 file 'races.csv'")
    time = races["time"].where(races["time"] != NULL, "00:00:00").fillna("00:00:00")
    races["time"] = time
    races["date"] = to_ns(pd.to_datetime(races["date"] + " " + time, format="%Y-%m-%d %H:%M:%S"))
    race_date = pd.Series(races["date"].to_numpy(), index=races["raceId"].to_numpy())

    for t in ("results", "standings", "constructor_results", "constructor_standings", "qualifying"):
        df = raw[t]
        d = race_date.reindex(df["raceId"].to_numpy()).to_numpy()
        if t == "qualifying":
            d = d - np.timedelta64(1, "D")
        df["date"] = d

    circuits = raw["circuits"]
    circuits["alt"] = circuits["alt"].astype(np.float64)
    results = raw["results"]
    for c in RESULTS_NUMERIC:
        results[c] = pd.to_numeric(results[c], errors="coerce")
    drivers = raw["drivers"]
    drivers["dob"] = to_ns(pd.to_datetime(drivers["dob"], format="%Y-%m-%d"))

    specs = {
        t: dict(df=raw[t], pkey=pk, fkeys=fks, time="date" if "date" in raw[t].columns and t != "drivers" else None)
        for t, (fname, pk, fks, drop) in TABLES.items()
    }
    return build_database(
        NAME, specs, val_timestamp=VAL_TIMESTAMP, test_timestamp=TEST_TIMESTAMP, stypes=STYPES,
        meta={"source": str(src), "origin": "Ergast F1 CSV dump, cleaned as RelBench rel-f1", "licence": "non-commercial (Ergast)"},
    )
