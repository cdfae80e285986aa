"""Runs a sensor asked for, followed up until they succeed: bookkeeping is recorded when a run
SUCCEEDS, not when it is requested.

A sensor that marks its work done when it returns a ``RunRequest`` trusts a run that may
never succeed: a failed ingest would never be retried, a failed retraining would start the
cooldown and block retraining for a week. So the landing and retraining sensors keep each
request open in their cursor and, on later ticks, look the run up by its run key (the daemon
tags every run it launches for a sensor with ``dagster/sensor_name`` and ``dagster/run_key``):

* **succeeded** (or it failed after its deciding asset was materialized: a month whose
  blocking check failed is ingested, with a verdict; a retraining whose gate rejected the
  challenger did retrain) -> done: the file is accepted, the cooldown starts at the run's end;
* **failed** (or no run appeared within :data:`LOST_AFTER`: the request never became a run)
  -> retried with a new run key (``<key>#2``, ``#3``; Dagster never launches a key twice), up
  to :data:`MAX_ATTEMPTS` in all, then given up with an alert;
* **queued / running** -> wait.

Dagster-free: the sensor supplies each run's :data:`RunState`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

RunState = Literal["succeeded", "failed", "in_progress", "missing"]
Verdict = Literal["done", "retry", "give_up", "wait"]

MAX_ATTEMPTS = 3  # a first run and two retries
# A run the daemon launches appears within seconds of its tick; one missing this long after
# the request was lost (say the daemon died between the tick and the launch).
LOST_AFTER = timedelta(hours=1)


def run_key(subject: str, attempt: int) -> str:
    """The run key of one attempt: the subject itself first (as before retries existed),
    then ``<subject>#<attempt>``."""
    return subject if attempt <= 1 else f"{subject}#{attempt}"


def settle(
    state: RunState, attempt: int, requested_at: float, now: float, max_attempts: int = MAX_ATTEMPTS
) -> Verdict:
    """What to do about a requested run, given its state (epoch seconds for the times)."""
    if state == "succeeded":
        return "done"
    if state == "in_progress":
        return "wait"
    if state == "missing" and now - requested_at < LOST_AFTER.total_seconds():
        return "wait"
    return "retry" if attempt < max_attempts else "give_up"
