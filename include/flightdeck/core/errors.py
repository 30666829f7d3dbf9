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
# A connection the server or the resolver refused for good: libpq reports these without a SQLSTATE,
# and no retry can fix a misspelt database, role or host, a wrong password or a refused login.
# (What is left without a SQLSTATE is the server being unreachable: refused, reset, closed.)
_PERMANENT_CONNECTION_FAILURES: tuple[tuple[str, str], ...] = (
    ("does not exist", "a database or role named in the connection does not exist"),
    ("password authentication failed", "authentication failed: check the connection's login and password"),
    ("authentication failed", "authentication failed: check the connection's login and password"),
    ("no pg_hba.conf entry", "the server refuses this login from this host (pg_hba.conf)"),
    ("failed to resolve host", "the connection's host name does not resolve"),
    ("could not translate host name", "the connection's host name does not resolve"),
    ("invalid connection option", "the connection has an option libpq does not know"),
    ("invalid dsn", "the connection's settings are not a valid connection string"),
)


def connection_refused_for_good(exc: BaseException) -> str | None:
    """What is wrong when a connection attempt failed in a way no retry can fix, else None."""
    exc = _driver_error(exc)
    if not isinstance(exc, psycopg.OperationalError) or exc.sqlstate is not None:
        return None
    text = str(exc)
    return next((reason for marker, reason in _PERMANENT_CONNECTION_FAILURES if marker in text), None)


def is_transient(exc: BaseException) -> bool:
    """Whether an exception is worth a retry."""
    if isinstance(exc, TransientPipelineError):
        return True
    if isinstance(exc, PermanentPipelineError):
        return False
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    driver = _driver_error(exc)  # SQLAlchemy wraps driver errors
    if driver is not exc:
        return is_transient(driver)
    if isinstance(exc, psycopg.Error):
        state = exc.sqlstate
        if state is None:
            # No SQLSTATE: the client lost the server (refused, reset, closed), not a SQL problem,
            # unless the server or the resolver refused the connection for good.
            return isinstance(exc, psycopg.OperationalError) and connection_refused_for_good(exc) is None
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
    refused = connection_refused_for_good(exc)
    if refused is not None:
        return f"{_server_message(_driver_error(exc))} ({refused}; not retried)"
    return _first_line(exc) or type(exc).__name__


def _driver_error(exc: BaseException) -> BaseException:
    """The driver's error a SQLAlchemy error wraps (`orig`), or the error itself."""
    original = getattr(exc, "orig", None)
    return original if isinstance(original, BaseException) else exc


def _server_message(exc: BaseException) -> str:
    """libpq's message without its 'connection to server at ... failed:' preamble, on one line."""
    text = " ".join(str(exc).split())
    return text.split("failed: ", 1)[-1] if "FATAL:" in text else text


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
