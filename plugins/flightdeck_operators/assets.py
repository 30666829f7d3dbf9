"""The warehouse tables as Airflow assets: one definition each, shared by producers and consumers.

URIs name the logical warehouse (the Airflow connection `warehouse`), the schema and the table,
under the private scheme `x-flightdeck`: Airflow 3 accepts `x-` schemes as they are, whereas its
`postgres://` normaliser wants a real host, port and database, which differ between environments
and would change the asset's identity with them. The asset's name is the qualified table name.

Producers attach the partition they replaced to the asset event:
{"partition_start": "YYYY-MM-DD", "partition_end": "YYYY-MM-DD"}, local days, end exclusive; both
null when the run changed no day (e.g. a reference drop that re-pointed no fact).
"""

from __future__ import annotations

from airflow.sdk import Asset

SCHEME = "x-flightdeck"
WAREHOUSE = "warehouse"


def warehouse_asset(table: str) -> Asset:
    """The asset of a warehouse table given as schema.table."""
    schema, name = table.split(".", 1)
    return Asset(name=table, uri=f"{SCHEME}://{WAREHOUSE}/{schema}/{name}", group="warehouse")


FACT_FLIGHTS = warehouse_asset("core.fact_flights")
WEATHER_HOURLY = warehouse_asset("core.weather_hourly")
DAILY_ROUTE_PERFORMANCE = warehouse_asset("marts.daily_route_performance")
# The reference dimensions as one asset: the reference_data DAG changes them together, and its event
# names the days whose facts were re-pointed at new members (null bounds: no fact changed).
DIMENSIONS = Asset(name="core.dimensions", uri=f"{SCHEME}://{WAREHOUSE}/core/dimensions", group="warehouse")

# What marts.daily_route_performance is built from: an event on any of them reruns the mart for the
# days it names.
MART_INPUTS: tuple[Asset, ...] = (FACT_FLIGHTS, WEATHER_HOURLY, DIMENSIONS)
