-- Weather tables. Applied idempotently (under an advisory lock) after warehouse.sql (catalog.DDL_FILES);
-- a warehouse created by an earlier version gains the tables added since when the file's checksum changes.
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS audit;

-- One row per origin airport and observation hour (from the weather API); partitions are local calendar days of the hour (obs_date). Units: °F, %, degrees, mph, inches, hPa, metres.
CREATE TABLE IF NOT EXISTS core.weather_hourly (
    origin         text             NOT NULL,
    obs_hour       timestamptz      NOT NULL,
    obs_date       date             NOT NULL,
    temp_f         double precision,
    dewp_f         double precision,
    humid_pct      double precision CHECK (humid_pct BETWEEN 0 AND 100),
    wind_dir_deg   double precision CHECK (wind_dir_deg BETWEEN 0 AND 360),
    wind_speed_mph double precision CHECK (wind_speed_mph >= 0),
    wind_gust_mph  double precision CHECK (wind_gust_mph >= 0),
    precip_in      double precision CHECK (precip_in >= 0),
    pressure_hpa   double precision,
    visib_m        double precision CHECK (visib_m >= 0),
    run_id         text             NOT NULL,
    loaded_at      timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT weather_hourly_pk PRIMARY KEY (origin, obs_hour)
);
CREATE INDEX IF NOT EXISTS weather_hourly_date_idx ON core.weather_hourly (obs_date);

-- Hours the weather API answered without any value (every requested variable null), one row per origin and hour, as the latest extract of their local day (obs_date) found them: the hours the API reported missing, which the weather check counts as accounted for. A rerun of the day replaces its rows.
CREATE TABLE IF NOT EXISTS audit.weather_empty_hours (
    origin      text        NOT NULL,
    obs_hour    timestamptz NOT NULL,
    obs_date    date        NOT NULL,
    run_id      text        NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT weather_empty_hours_pk PRIMARY KEY (origin, obs_hour)
);
CREATE INDEX IF NOT EXISTS weather_empty_hours_date_idx ON audit.weather_empty_hours (obs_date);
