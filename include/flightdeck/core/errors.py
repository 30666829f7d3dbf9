"""One error taxonomy for every stage: transient (retry with backoff) or permanent (fail fast).

Per-record data errors are not exceptions at all: they become rows of audit.rejected_records.
"""

from __future__ import annotations

import psycopg
from psycopg import errors as pgerrors


class PipelineError(Exception):
    """Base of the pipeline's own errors."""


class TransientPipelineError(PipelineError):
    """Worth retrying: the same call may succeed later (network, locks, restarts)."""


class SourceNotReadyError(TransientPipelineError):
    """The source has nothing for the partition yet: retry later rather than load an empty day."""


class PermanentPipelineError(PipelineError):
    """Retrying cannot help; the message says what to fix."""


class ReconciliationError(PermanentPipelineError):
    """Counts or data-quality checks do not add up; the partition was not accepted."""


# SQLSTATE classes that are worth a retry: connection exceptions (08), serialization failures
# and deadlocks (40), insufficient resources (53), operator intervention such as
# admin shutdown or a terminated backend (57), and lock-not-available (55P03).
_TRANSIENT_SQLSTATE_PREFIXES = ("08", "40", "53", "57")
_TRANSIENT_SQLSTATES = frozenset({"55P03"})


def is_transient(exc: BaseException) -> bool:
    """Whether an exception is worth a retry."""
    if isinstance(exc, TransientPipelineError):
        return True
    if isinstance(exc, PermanentPipelineError):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    original = getattr(exc, "orig", None)  # SQLAlchemy wraps driver errors
    if isinstance(original, BaseException) and original is not exc:
        return is_transient(original)
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # No SQLSTATE: the client lost the server (refused, reset, closed), not a SQL problem.
            return isinstance(exc, psycopg.OperationalError)
        return state.startswith(_TRANSIENT_SQLSTATE_PREFIXES) or state in _TRANSIENT_SQLSTATES
    return False


def describe(exc: BaseException, staging_schema: str | None = None) -> str:
    """One line for a person: what failed and, for permanent database errors, what to fix."""
    if isinstance(exc, pgerrors.UndefinedTable):
        hint = (
            "clear the run from its extract task to rebuild staging"
            if f'"{staging_schema or "staging"}.' in str(exc)
            else "run `etl seed` or check that the connection points at the right database"
        )
        return f"missing table: {_first_line(exc)} ({hint})"
    if isinstance(exc, pgerrors.UndefinedColumn):
        return f"schema mismatch: {_first_line(exc)} (the source or warehouse table differs from the DDL)"
    if isinstance(exc, pgerrors.InsufficientPrivilege):
        return f"permission denied: {_first_line(exc)} (grant the connection's role access)"
    if isinstance(exc, pgerrors.SyntaxError):
        return f"bad SQL: {_first_line(exc)}"
    return _first_line(exc) or type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
