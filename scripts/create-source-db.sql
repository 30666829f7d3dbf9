-- docker-compose: the warehouse server also hosts the demo's operational source database.
CREATE DATABASE flights_source OWNER etl;
