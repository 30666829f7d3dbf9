"""Dead-letter replay of the flights pipeline: re-validate a day's rejected records, load those that pass."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flightdeck.core import audit
from flightdeck.core.compose import exists
from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition, day_partition
from flightdeck.core.reconcile import check_partition
from flightdeck.core.replace import EXTRACT_STAGES
from flightdeck.core.stage import Endpoints, StageContext
from flightdeck.sources.flights.config import FlightsConfig
from flightdeck.sources.flights.load import ReplayBatch, load
from flightdeck.sources.flights.transform import reference_lookup, validate_and_transform

PIPELINE = "flights"


@dataclass(frozen=True)
class ReplayResult:
    replayed: int  # rejected records that now pass and were loaded
    still_rejected: int  # records that still fail the rules


def replay_rejects(settings: FlightsConfig, endpoints: Endpoints, staging_schema: str, day: dt.date) -> ReplayResult:
    """Re-validate a partition's rejected records and load those that now pass.

    For rules or rejected payloads fixed since the run. Passing records go through the normal load of
    the partition's latest run, which adds them to clean staging and marks them replayed in its own
    transaction (so a failed load leaves them rejected, ready for the next replay); then the check
    runs. Running it again finds nothing new to replay and changes nothing.
    """
    clean_name = day_partition(PIPELINE, day).staging_table(staging_schema, "clean")
    with connect(endpoints.warehouse) as wh:
        latest = audit.latest_run(wh, PIPELINE, day)
        if latest is None:
            raise PermanentPipelineError(f"no run of flights for {day}: run the DAG for that day first")
        partition = Partition(PIPELINE, day, day + dt.timedelta(days=1), latest[0], latest[1])
        if not exists(wh, clean_name.as_string(wh)):
            raise PermanentPipelineError(f"staging for {day} is gone: rerun the day instead of replaying")
        pending = audit.pending_rejections(wh, partition, EXTRACT_STAGES)
    with stage_log("replay", partition.log_context()) as counts:
        counts.records_in = len(pending)
        ids_by_flight = {int(raw["flight_id"]): rid for rid, raw in pending if "flight_id" in raw}
        with connect(endpoints.warehouse) as wh:
            refs = reference_lookup(wh, day)
            facts, still = validate_and_transform([raw for _, raw in pending], refs, settings.timezone)
            passed = [ids_by_flight[int(fact["source_flight_id"])] for fact in facts]
        counts.records_out = len(passed)
        counts.rejected = len(still)
    if passed:
        replay_id = f"replay__{dt.datetime.now(dt.UTC).isoformat()}"
        load(StageContext(settings, partition, endpoints, staging_schema), ReplayBatch(facts, passed, replay_id))
        check_partition(endpoints.warehouse, settings.target, partition)
    return ReplayResult(replayed=len(passed), still_rejected=len(still))
