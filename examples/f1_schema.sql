-- Formula 1 (rel-f1 shape): the 9 tables RelBench builds from the Ergast F1 database, schema only.
-- Written from ../shared/data/f1/README.md ("How RelBench builds rel-f1"): circuits, drivers and
-- constructors are static; races and every event table carry a `date` (rel-f1 joins the race date
-- onto results, standings, constructor_results, constructor_standings and qualifying); statusId
-- is a plain integer in rel-f1, not a foreign key. Value ranges below are CHECKs relforge obeys.
-- Generate:  relforge generate --schema examples/f1_schema.sql --dialect postgres --out out/f1
-- relforge parses these statements and never executes them.

CREATE TABLE circuits (
    circuitId  INTEGER PRIMARY KEY,
    circuitRef VARCHAR(40) NOT NULL UNIQUE,
    name       VARCHAR(80) NOT NULL,
    location   VARCHAR(60),
    country    VARCHAR(40),
    lat        DECIMAL(9, 5) CHECK (lat BETWEEN -90 AND 90),
    lng        DECIMAL(9, 5) CHECK (lng BETWEEN -180 AND 180),
    alt        DOUBLE PRECISION
);

CREATE TABLE drivers (
    driverId    INTEGER PRIMARY KEY,
    driverRef   VARCHAR(40) NOT NULL UNIQUE,
    code        CHAR(3),
    forename    VARCHAR(40) NOT NULL,
    surname     VARCHAR(40) NOT NULL,
    dob         DATE CHECK (dob >= '1890-01-01'),
    nationality VARCHAR(40)
);

CREATE TABLE constructors (
    constructorId  INTEGER PRIMARY KEY,
    constructorRef VARCHAR(40) NOT NULL UNIQUE,
    name           VARCHAR(60) NOT NULL,
    nationality    VARCHAR(40)
);

CREATE TABLE races (
    raceId    INTEGER PRIMARY KEY,
    year      SMALLINT NOT NULL CHECK (year BETWEEN 1950 AND 2030),
    round     SMALLINT NOT NULL CHECK (round >= 1 AND round <= 30),
    circuitId INTEGER NOT NULL REFERENCES circuits (circuitId),
    name      VARCHAR(80) NOT NULL,
    date      TIMESTAMP NOT NULL,   -- race start: the time column of races
    time      TIME
);

CREATE TABLE results (
    resultId      INTEGER PRIMARY KEY,
    raceId        INTEGER NOT NULL REFERENCES races (raceId),
    driverId      INTEGER NOT NULL REFERENCES drivers (driverId),
    constructorId INTEGER NOT NULL REFERENCES constructors (constructorId),
    number        INTEGER,
    grid          INTEGER NOT NULL CHECK (grid >= 0),
    position      INTEGER CHECK (position >= 1),
    positionOrder INTEGER NOT NULL CHECK (positionOrder >= 1),
    points        DECIMAL(5, 2) NOT NULL CHECK (points >= 0),
    laps          INTEGER NOT NULL CHECK (laps >= 0),
    milliseconds  BIGINT CHECK (milliseconds > 0),
    fastestLap    INTEGER CHECK (fastestLap >= 1),
    rank          INTEGER CHECK (rank >= 0),
    statusId      INTEGER NOT NULL CHECK (statusId >= 1),
    date          TIMESTAMP NOT NULL
);

CREATE TABLE standings (
    driverStandingsId INTEGER PRIMARY KEY,
    raceId            INTEGER NOT NULL REFERENCES races (raceId),
    driverId          INTEGER NOT NULL REFERENCES drivers (driverId),
    points            DECIMAL(6, 2) NOT NULL CHECK (points >= 0),
    position          INTEGER CHECK (position >= 1),
    wins              INTEGER NOT NULL CHECK (wins >= 0),
    date              TIMESTAMP NOT NULL
);

CREATE TABLE constructor_results (
    constructorResultsId INTEGER PRIMARY KEY,
    raceId               INTEGER NOT NULL REFERENCES races (raceId),
    constructorId        INTEGER NOT NULL REFERENCES constructors (constructorId),
    points               DECIMAL(5, 2) CHECK (points >= 0),
    date                 TIMESTAMP NOT NULL
);

CREATE TABLE constructor_standings (
    constructorStandingsId INTEGER PRIMARY KEY,
    raceId                 INTEGER NOT NULL REFERENCES races (raceId),
    constructorId          INTEGER NOT NULL REFERENCES constructors (constructorId),
    points                 DECIMAL(6, 2) NOT NULL CHECK (points >= 0),
    position               INTEGER CHECK (position >= 1),
    wins                   INTEGER NOT NULL CHECK (wins >= 0),
    date                   TIMESTAMP NOT NULL
);

CREATE TABLE qualifying (
    qualifyId     INTEGER PRIMARY KEY,
    raceId        INTEGER NOT NULL REFERENCES races (raceId),
    driverId      INTEGER NOT NULL REFERENCES drivers (driverId),
    constructorId INTEGER NOT NULL REFERENCES constructors (constructorId),
    number        INTEGER NOT NULL,
    position      INTEGER NOT NULL CHECK (position >= 1),
    date          TIMESTAMP NOT NULL   -- rel-f1: race date minus one day
);
