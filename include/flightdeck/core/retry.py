"""The one retry policy: exponential backoff with jitter, bounded in attempts and in time.

Whether an error is worth another try is decided by flightdeck.core.errors.is_transient (or, for a
client that knows better what one attempt's failure means, by its own narrower predicate). Retries
here are short and in-process; longer outages are Airflow's task retries' job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from flightdeck.core.errors import is_transient


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int
    initial_wait_s: float
    max_wait_s: float
    max_total_s: float | None = None


# Borrowing a database connection: a restart or a full connection slot passes within seconds.
DATABASE_CONNECT = RetryPolicy(attempts=3, initial_wait_s=0.5, max_wait_s=4.0)


def retrying(
    policy: RetryPolicy,
    *,
    retry_on: Callable[[BaseException], bool] = is_transient,
    wait: wait_base | None = None,
    sleep: Callable[[float], None] = time.sleep,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """A tenacity Retrying for `policy`: call it with the function and its arguments.

    The last error is re-raised unchanged when the attempts or the time run out.
    """
    stop: stop_base = stop_after_attempt(policy.attempts)
    if policy.max_total_s is not None:
        stop = stop | stop_before_delay(policy.max_total_s)
    return Retrying(
        retry=retry_if_exception(retry_on),
        stop=stop,
        wait=wait or wait_exponential_jitter(initial=policy.initial_wait_s, max=policy.max_wait_s),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
