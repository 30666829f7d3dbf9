"""Schema drift rules, as a pure comparison of live and expected column types."""

from __future__ import annotations

from flightdeck.core.drift import compare

EXPECTED = (("id", "bigint"), ("n", "integer"), ("code", "text"), ("at", "timestamptz"))
LIVE = {"id": "bigint", "n": "integer", "code": "text", "at": "timestamp with time zone"}


def test_identical_columns_are_no_drift() -> None:
    drift = compare(LIVE, EXPECTED)

    assert drift.problems(allow_new_columns=False) == []


def test_narrower_compatible_types_are_no_drift() -> None:
    drift = compare({**LIVE, "id": "integer", "n": "smallint", "code": "character varying"}, EXPECTED)

    assert drift.problems(allow_new_columns=False) == []


def test_each_kind_of_drift_names_its_column() -> None:
    live = {"id": "bigint", "n": "numeric", "at": "timestamp without time zone", "extra": "text"}

    problems = compare(live, EXPECTED).problems(allow_new_columns=False)

    assert problems == [
        "column code is missing",
        "column n is numeric, expected integer",
        "column at is timestamp without time zone, expected timestamptz",
        "column extra is new (set allow_new_columns to accept it)",
    ]


def test_new_columns_pass_when_allowed_and_known_unread_columns_always_do() -> None:
    live = {**LIVE, "extra": "text", "recorded_at": "timestamp with time zone"}

    assert compare(live, EXPECTED, ignore=("recorded_at",)).problems(allow_new_columns=True) == []
    assert compare(live, EXPECTED, ignore=("recorded_at",)).added == ("extra",)
