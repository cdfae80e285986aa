"""Follow a run in the instance as it goes: one line per finished step, and, with
``CHURN_LOG_LEVEL``, Dagster's own event log at that level (read from the instance too)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from churn_assets.console.events import gate_cause, record_facts, steps_of
from churn_assets.lib.console.facts import RunFacts
from churn_assets.lib.console.progress import headline, progress_line

LOG_LEVEL_ENV_VAR = "CHURN_LOG_LEVEL"


def log_level(value: str | None) -> int | None:
    """``debug``/``info``/``warning``/``error`` (or a number) as a logging level; None when
    unset (people see only progress lines).

    Raises:
        ValueError: naming the accepted values.
    """
    if not value:
        return None
    if value.isdigit():
        return int(value)
    level = logging.getLevelName(value.upper())
    if not isinstance(level, int):
        raise ValueError(
            f"{LOG_LEVEL_ENV_VAR}={value!r} is not a log level: use debug, info, warning or error"
        )
    return level


def event_line(entry: Any) -> str:
    """One event of Dagster's log, as its console logger would show it."""
    at = datetime.fromtimestamp(entry.timestamp, UTC).strftime("%H:%M:%S")
    kind = entry.dagster_event_type.value if entry.dagster_event_type else "LOG"
    level = logging.getLevelName(entry.level)
    return f"{at} {level:<7} {entry.step_key or '-'} - {kind} - {entry.user_message}"


class Follower:
    """Reads a run's new events on each :meth:`poll` and prints progress as steps finish."""

    def __init__(
        self,
        instance: Any,
        run_id: str,
        say: Callable[[str], None],
        echo: Callable[[str], None] | None = None,
        level: int | None = None,
    ):
        self.instance = instance
        self.run_id = run_id
        self.say, self.echo, self.level = say, echo, level
        run = instance.get_run_by_id(run_id)
        self.facts = RunFacts(job=run.job_name, run_id=run_id, status=run.status.value)
        self.facts.steps = steps_of(instance, run)
        self.cursor: str | None = None
        self.started: float | None = None
        self._step_assets: dict[str, dict[str, dict]] = {}  # step -> what it materialized

    def _step_outputs(self, step: str) -> tuple[dict[str, dict], list]:
        return self._step_assets.get(step, {}), [c for c in self.facts.checks if c.step == step]

    def poll(self) -> bool:
        """Print what happened since the last poll; whether the run has finished."""
        import dagster as dg

        while True:
            page = self.instance.get_records_for_run(self.run_id, cursor=self.cursor, limit=500)
            for item in page.records:
                self._handle(item.event_log_entry, dg)
            self.cursor = page.cursor
            if not page.has_more:
                break
        run = self.instance.get_run_by_id(self.run_id)
        self.facts.status = run.status.value
        return run.is_finished

    def _handle(self, entry: Any, dg: Any) -> None:
        if self.started is None:
            self.started = entry.timestamp
        if self.echo is not None and self.level is not None and entry.level >= self.level:
            self.echo(event_line(entry))
        event = entry.dagster_event
        if event is not None and event.event_type in (
            dg.DagsterEventType.ASSET_MATERIALIZATION,
            dg.DagsterEventType.ASSET_OBSERVATION,
        ):
            record_facts(entry, self.facts)
            key = event.asset_key.to_user_string()
            if event.step_key and key in self.facts.assets:
                self._step_assets.setdefault(event.step_key, {})[key] = self.facts.assets[key]
            return
        step = record_facts(entry, self.facts)
        if step is None:
            return
        outcome = self.facts.finished[step]
        if outcome == "failed":
            failure = gate_cause(self.facts, self.facts.failures[-1])
            self.facts.failures[-1] = failure
            detail = failure.cause
        else:
            detail = headline(*self._step_outputs(step))
        elapsed = entry.timestamp - (self.started or entry.timestamp)
        index, total = len(self.facts.finished), len(self.facts.steps)
        self.say(progress_line(index, total, elapsed, step, outcome, detail))


def follow(
    instance: Any,
    run_id: str,
    say: Callable[[str], None],
    echo: Callable[[str], None] | None = None,
    level: int | None = None,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 1.0,
) -> RunFacts:
    """Print progress until the run finishes (or ``alive()`` says its process is gone)."""
    follower = Follower(instance, run_id, say, echo, level)
    while not follower.poll():
        if not alive():
            follower.poll()  # what the process wrote before it went
            break
        time.sleep(interval)
    return follower.facts
