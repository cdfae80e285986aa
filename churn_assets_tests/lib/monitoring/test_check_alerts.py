"""The check-alert cursor: new failures once, executions in progress looked at again, nothing
older than the first tick alerted."""

from __future__ import annotations

from dataclasses import dataclass

from churn_assets.lib.monitoring.check_alerts import CheckCursor, State


@dataclass(frozen=True)
class Run:
    id: int
    state: State


def state(record: Run) -> State:
    return record.state


def test_the_first_tick_alerts_nothing_and_keeps_what_is_in_progress() -> None:
    latest = {"a": [Run(3, "failed"), Run(5, "open")], "b": [Run(7, "done")], "c": []}
    cursor = CheckCursor.first(latest, state)
    assert (cursor.start, cursor.seen, cursor.open) == (7, {}, {"a": [5]})
    assert cursor.fetch_after("a") == 4 and cursor.fetch_after("c") == 6


def test_new_failures_once_and_open_ones_until_they_have_a_verdict() -> None:
    cursor = CheckCursor(start=7, open={"a": [5]})
    assert cursor.advance("a", [Run(5, "open"), Run(8, "failed"), Run(9, "open")], state) == [
        Run(8, "failed")
    ]
    assert (cursor.seen, cursor.open) == ({"a": 9}, {"a": [5, 9]})
    again = CheckCursor.from_json(cursor.to_json())
    assert again == cursor
    assert again.fetch_after("a") == 4
    # 5 failed, 9 passed, 8 already alerted, 10 is new and failed
    runs = [Run(5, "failed"), Run(8, "failed"), Run(9, "done"), Run(10, "failed")]
    assert again.advance("a", runs, state) == [Run(5, "failed"), Run(10, "failed")]
    assert (again.seen, again.open) == ({"a": 10}, {})


def test_a_cursor_without_start_is_a_first_tick() -> None:
    assert CheckCursor.from_json(None) is None
    assert CheckCursor.from_json("") is None
    assert CheckCursor.from_json('{"seen": {}}') is None
