"""Which asset check executions to alert on, and what `check_failure_alerts` remembers between
ticks: for each check, the newest execution id seen and the ids still in progress.

A check's execution row is written when the check is planned and updated with its verdict,
so an execution seen in progress is looked at again until it has one (or its run ended
without one, which `run_failure_alerts` reports). The first tick only records where the
history stands: nothing older is alerted. Ids, not timestamps: SQLite stores the row's
creation time to the second. The sensor fetches the executions and sends the alerts; this
module decides, and knows nothing of Dagster (an execution is anything with an ``id``,
classified by the caller's ``state`` function).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeVar

State = Literal["open", "failed", "done"]  # in progress | failed | any other verdict


class Execution(Protocol):
    """One execution of a check, as the instance lists it."""

    @property
    def id(self) -> int: ...


E = TypeVar("E", bound=Execution)


@dataclass
class CheckCursor:
    """The sensor's cursor. JSON shape::

        {"start": <id>, "seen": {"<check>": <id>}, "open": {"<check>": [<id>, ...]}}

    ``start`` is the newest id of any check on the first tick: a check not yet in ``seen``
    starts there.
    """

    start: int
    seen: dict[str, int] = field(default_factory=dict)
    open: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def first(cls, latest: Mapping[str, Iterable[E]], state: Callable[[E], State]) -> CheckCursor:
        """The cursor of the first tick, from each check's newest executions: nothing seen
        so far is alerted, except what is still in progress once it fails."""
        history = {name: list(records) for name, records in latest.items()}
        start = max((r.id for records in history.values() for r in records), default=0)
        in_progress = {
            name: ids
            for name, records in history.items()
            if (ids := sorted(r.id for r in records if state(r) == "open"))
        }
        return cls(start=start, open=in_progress)

    @classmethod
    def from_json(cls, text: str | None) -> CheckCursor | None:
        """The stored cursor, or None on the first tick (or a cursor from before ids were
        used, which has no ``start``)."""
        state = json.loads(text) if text else {}
        if "start" not in state:
            return None
        return cls(start=state["start"], seen=state["seen"], open=state["open"])

    def to_json(self) -> str:
        """The cursor as a JSON string."""
        return json.dumps({"start": self.start, "seen": self.seen, "open": self.open})

    def fetch_after(self, check: str) -> int:
        """Fetch the check's executions with an id above this: new ones and those open."""
        return min([self.seen.get(check, self.start), *self.open.get(check, [])]) - 1

    def advance(self, check: str, executions: Iterable[E], state: Callable[[E], State]) -> list[E]:
        """The executions (oldest first, as fetched after :meth:`fetch_after`) that failed
        since the last tick; records them as seen and keeps those still in progress open."""
        seen = self.seen.get(check, self.start)
        still_open = set(self.open.get(check, []))
        now_open: list[int] = []
        failed: list[E] = []
        for record in executions:
            if record.id <= seen and record.id not in still_open:
                continue
            seen = max(seen, record.id)
            verdict = state(record)
            if verdict == "open":
                now_open.append(record.id)
            elif verdict == "failed":
                failed.append(record)
        self.seen[check] = seen
        if now_open:
            self.open[check] = now_open
        else:
            self.open.pop(check, None)
        return failed
