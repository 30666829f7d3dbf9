-- Marts: aggregates rebuilt from core by the marts DAG. Applied idempotently (under an advisory lock) before a
-- rebuild, after warehouse.sql and weather.sql.
CREATE SCHEMA IF NOT EXISTS marts;

-- One row per local day of scheduled departure, route and carrier, rebuilt from core.fact_flights and core.weather_hourly for the days a load replaced. on_time_share: arrival delay <= 15 min among completed flights with a known arrival delay (null without any). Delays in minutes, weather at the origin at the scheduled departure hour (the fact's weather columns) averaged over the flights that have an observation (°F, mph, inches, metres); known_aircraft: flights whose tail number the aircraft dimension knows.
CREATE TABLE IF NOT EXISTS marts.daily_route_performance (
    flight_date         date             NOT NULL,
    origin              text             NOT NULL,
    dest                text             NOT NULL,
    carrier             text             NOT NULL,
    flights             integer          NOT NULL CHECK (flights > 0),
    cancelled           integer          NOT NULL CHECK (cancelled >= 0),
    completed           integer          NOT NULL CHECK (completed >= 0),
    on_time_share       double precision CHECK (on_time_share BETWEEN 0 AND 1),
    dep_delay_mean_min  double precision,
    dep_delay_p90_min   double precision,
    arr_delay_mean_min  double precision,
    arr_delay_p90_min   double precision,
    with_weather        integer          NOT NULL CHECK (with_weather >= 0),
    temp_mean_f         double precision,
    wind_speed_mean_mph double precision,
    precip_mean_in      double precision,
    visib_mean_m        double precision,
    known_aircraft      integer          NOT NULL CHECK (known_aircraft >= 0),
    run_id              text             NOT NULL,
    loaded_at           timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT daily_route_performance_pk PRIMARY KEY (flight_date, origin, dest, carrier)
);
CREATE INDEX IF NOT EXISTS daily_route_performance_route_idx ON marts.daily_route_performance (origin, dest, flight_date);
-- Marts built before known_aircraft existed gain it (0 until their days are rebuilt).
ALTER TABLE marts.daily_route_performance ADD COLUMN IF NOT EXISTS known_aircraft integer NOT NULL DEFAULT 0;
