"""Dead-letter replay of the flights pipeline: re-validate a day's rejected records, load those that pass.

Two kinds: the stored raw copies in audit.rejected_records (after a rule or a stored payload was fixed),
or, with from_source, the records as the source database holds them now (after a fix in the source).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row

from flightdeck.core import audit
from flightdeck.core.compose import exists
from flightdeck.core.db import connect
from flightdeck.core.errors import PermanentPipelineError
from flightdeck.core.logs import stage_log
from flightdeck.core.partition import Partition, day_partition
from flightdeck.core.reconcile import check_partition
from flightdeck.core.replace import EXTRACT_STAGES
from flightdeck.core.stage import Endpoints, StageContext
from flightdeck.core.validation import Rejection
from flightdeck.sources.flights.config import FlightsConfig
from flightdeck.sources.flights.extract import SOURCE_KEY, source_records_query
from flightdeck.sources.flights.load import ReplayBatch, load
from flightdeck.sources.flights.transform import reference_lookup, validate_and_transform

PIPELINE = "flights"
GONE_FIELD = SOURCE_KEY


def gone_reason(day: dt.date) -> str:
    """Why a record re-read from the source stays rejected when the source no longer has it."""
    return (
        f"no longer in the source for {day} (deleted, or moved to another day, since the run): "
        "it cannot be replayed; a rerun of the day drops it from the counts"
    )


@dataclass(frozen=True)
class ReplayResult:
    replayed: int  # rejected records that now pass and were loaded
    still_rejected: int  # records that still fail the rules (including those gone from the source)
    from_source: bool = False  # re-read from the source database (else: the stored raw copies)
    gone_from_source: int = 0  # of still_rejected: records the source no longer has for the day

    def summary(self, dag_id: str, day: dt.date) -> str:
        """What `etl replay-rejects` prints: the counts, and what to do when a source fix was not seen."""
        line = f"{dag_id} {day}: {self.replayed} replayed and loaded, {self.still_rejected} still rejected"
        if self.gone_from_source:
            line += f" ({self.gone_from_source} no longer in the source: kept rejected)"
        if not self.from_source and self.still_rejected and not self.replayed:
            line += (
                "\nThe stored copies of the rejected records were re-checked, not the source: fixes made in "
                f"the source are picked up by `etl replay-rejects --dag {dag_id} --date {day} --from-source` "
                f"or by a rerun of the day (`etl run {dag_id} --date {day}`)"
            )
        return line


def _reread(
    settings: FlightsConfig, endpoints: Endpoints, partition: Partition, pending: list[tuple[int, str, dict[str, Any]]]
) -> tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, Rejection]]]:
    """The pending records as the source holds them now, by source key; and those it no longer has."""
    keys = {rid: int(raw[SOURCE_KEY]) for rid, _, raw in pending if raw.get(SOURCE_KEY) is not None}
    query, params = source_records_query(settings, partition, sorted(set(keys.values())))
    with connect(endpoints.require_source()) as src, src.cursor(row_factory=dict_row) as cur:
        cur.execute(query, params)
        rows = {int(row[SOURCE_KEY]): dict(row) for row in cur.fetchall()}
    found = [(rid, rows[key]) for rid, key in keys.items() if key in rows]
    gone = [
        (rid, Rejection(stage, GONE_FIELD, gone_reason(partition.start), raw))
        for rid, stage, raw in pending
        if keys.get(rid) not in rows
    ]
    return found, gone


def replay_rejects(
    settings: FlightsConfig, endpoints: Endpoints, staging_schema: str, day: dt.date, from_source: bool = False
) -> ReplayResult:
    """Re-validate a partition's rejected records and load those that now pass.

    By default the stored raw copies are re-validated: for rules or rejected payloads fixed since the
    run. With from_source, the records are re-read from the source database by their source key (the
    day's rows only) and validated with the same rules and the day's reference data: for records fixed
    in the source. Those still rejected get their stored copy rewritten (stage, field, reason, raw) as
    the source holds them now; a record the source no longer has for the day stays rejected, with a
    reason saying so (it was extracted, so the run's counts keep it). A replayed rejection keeps what
    was rejected and why, marked replayed; the fact table holds the record as it was loaded.

    Passing records go through the normal load of the partition's latest run, which adds them to clean
    staging, marks them replayed and rewrites the stored copies in its own transaction (so a failed load
    leaves them rejected, ready for the next replay); then the check runs. Running it again finds
    nothing new to replay and changes nothing.
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
        counts.extra["from_source"] = from_source
        gone: list[tuple[int, Rejection]] = []
        if from_source and pending:
            records, gone = _reread(settings, endpoints, partition, pending)
        else:
            records = [(rid, raw) for rid, _, raw in pending]
        facts: list[dict[str, Any]] = []
        passed: list[int] = []
        refreshed: list[tuple[int, Rejection]] = list(gone)
        with connect(endpoints.warehouse) as wh:
            refs = reference_lookup(wh, day)
        for rid, raw in records:
            # One record at a time: each result belongs to its own rejection, whatever its payload holds.
            fact, still = validate_and_transform([raw], refs, settings.timezone)
            if fact:
                facts.extend(fact)
                passed.append(rid)
            elif from_source:
                refreshed.extend((rid, rejection) for rejection in still)
        counts.records_out = len(passed)
        counts.rejected = len(records) - len(passed) + len(gone)
        counts.extra["gone_from_source"] = len(gone)
    if passed:
        replay_id = f"replay__{dt.datetime.now(dt.UTC).isoformat()}"
        load(
            StageContext(settings, partition, endpoints, staging_schema),
            ReplayBatch(facts, passed, replay_id, refreshed),
        )
        check_partition(endpoints.warehouse, settings.target, partition)
    elif refreshed:
        with connect(endpoints.warehouse) as wh:
            audit.refresh_rejections(wh, refreshed)
    return ReplayResult(
        replayed=len(passed),
        still_rejected=len(pending) - len(passed),
        from_source=from_source,
        gone_from_source=len(gone),
    )
