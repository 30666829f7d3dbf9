"""errors.py: which failures are worth a retry, and a one-line description with the fix."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pgerrors

from flightdeck.core.errors import (
    PermanentPipelineError,
    ReconciliationError,
    TransientPipelineError,
    describe,
    is_transient,
)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(pgerrors.SerializationFailure(), id="40001-serialization-failure"),
        pytest.param(pgerrors.DeadlockDetected(), id="40P01-deadlock"),
        pytest.param(pgerrors.AdminShutdown(), id="57P01-admin-shutdown"),
        pytest.param(pgerrors.CannotConnectNow(), id="57P03-starting-up"),
        pytest.param(pgerrors.LockNotAvailable(), id="55P03-lock-not-available"),
        pytest.param(pgerrors.ConnectionFailure(), id="08006-connection-failure"),
        pytest.param(pgerrors.TooManyConnections(), id="53300-too-many-connections"),
        pytest.param(psycopg.OperationalError("connection refused"), id="no-sqlstate-connection-refused"),
        pytest.param(psycopg.OperationalError("the connection is closed"), id="no-sqlstate-connection-closed"),
        pytest.param(TimeoutError("timed out"), id="timeout"),
        pytest.param(ConnectionError("reset"), id="connection-error"),
        pytest.param(ConnectionRefusedError(111, "refused"), id="connection-refused-oserror"),
        pytest.param(TransientPipelineError("source busy"), id="transient-pipeline-error"),
    ],
)
def test_failures_that_may_succeed_later_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(pgerrors.UndefinedTable(), id="42P01-undefined-table"),
        pytest.param(pgerrors.UndefinedColumn(), id="42703-undefined-column"),
        pytest.param(pgerrors.SyntaxError(), id="42601-syntax-error"),
        pytest.param(pgerrors.InsufficientPrivilege(), id="42501-permission-denied"),
        pytest.param(pgerrors.UniqueViolation(), id="23505-unique-violation"),
        pytest.param(pgerrors.NumericValueOutOfRange(), id="22003-out-of-range"),
        pytest.param(psycopg.InterfaceError("bad use of the API"), id="no-sqlstate-interface-error"),
        pytest.param(
            psycopg.OperationalError(
                'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
                'FATAL:  database "nonexistent_db" does not exist'
            ),
            id="no-sqlstate-unknown-database",
        ),
        pytest.param(
            psycopg.OperationalError('connection failed: FATAL:  role "etl" does not exist'), id="unknown-role"
        ),
        pytest.param(
            psycopg.OperationalError('connection failed: FATAL:  password authentication failed for user "etl"'),
            id="wrong-password",
        ),
        pytest.param(
            psycopg.OperationalError("failed to resolve host 'warehose': [Errno -2] Name or service not known"),
            id="unknown-host",
        ),
        pytest.param(PermanentPipelineError("bad config"), id="permanent-pipeline-error"),
        pytest.param(ReconciliationError("extracted 10 != loaded 9 + rejected 0"), id="reconciliation"),
        pytest.param(ValueError("bug"), id="plain-bug"),
        pytest.param(KeyError("flight_id"), id="key-error"),
    ],
)
def test_failures_that_a_retry_cannot_fix_are_permanent(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_the_pipelines_own_classification_wins_over_the_cause() -> None:
    cause = TimeoutError("timed out")
    gave_up = PermanentPipelineError("gave up after 3 attempts")
    gave_up.__cause__ = cause
    assert is_transient(cause)
    assert not is_transient(gave_up)

    transient_sql = pgerrors.SerializationFailure()
    assert is_transient(transient_sql)
    assert not is_transient(ReconciliationError(str(transient_sql)))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        pytest.param(
            pgerrors.UndefinedTable('relation "ops.flights" does not exist\nLINE 1: SELECT * FROM ops.flights\n'),
            'missing table: relation "ops.flights" does not exist '
            "(run `etl seed` or check that the connection points at the right database)",
            id="undefined-table",
        ),
        pytest.param(
            pgerrors.UndefinedTable('relation "staging.flights_clean_p20130101" does not exist'),
            'missing table: relation "staging.flights_clean_p20130101" does not exist '
            "(clear the run from its extract task to rebuild staging)",
            id="undefined-staging-table",
        ),
        pytest.param(
            pgerrors.UndefinedColumn('column "tailnum" does not exist\nLINE 1: SELECT tailnum'),
            'schema mismatch: column "tailnum" does not exist (the source or warehouse table differs from the DDL)',
            id="undefined-column",
        ),
        pytest.param(
            pgerrors.InsufficientPrivilege("permission denied for schema core"),
            "permission denied: permission denied for schema core (grant the connection's role access)",
            id="permission",
        ),
        pytest.param(
            pgerrors.SyntaxError('syntax error at or near "FROM"\nLINE 1: SELECT FROM FROM'),
            'bad SQL: syntax error at or near "FROM"',
            id="syntax",
        ),
        pytest.param(
            psycopg.OperationalError("connection refused\n\tIs the server running on that host?"),
            "connection refused",
            id="first-line-only",
        ),
        pytest.param(ValueError(""), "ValueError", id="no-message"),
        pytest.param(
            pgerrors.UndefinedTable(),
            "missing table: UndefinedTable (run `etl seed` or check that the connection points at the right database)",
            id="undefined-table-no-message",
        ),
    ],
)
def test_describe_is_one_line_with_a_fix_hint_for_schema_problems(exc: BaseException, expected: str) -> None:
    description = describe(exc)

    assert description == expected
    assert "\n" not in description


def test_a_connection_refused_for_good_says_what_is_wrong_on_one_line() -> None:
    exc = psycopg.OperationalError(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        'FATAL:  database "nonexistent_db" does not exist'
    )

    text = describe(exc)

    assert text == (
        'connection to server at "127.0.0.1", port 5432 failed: FATAL: database "nonexistent_db" does not exist '
        "(a database or role named in the connection does not exist; not retried)"
    )
