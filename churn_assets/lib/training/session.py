"""The shared state of a search with several workers: the session the leader publishes on the
study, and the budget every worker counts (split from :mod:`worker`, which runs the workers;
the module docstring there explains the protocol).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from churn_assets.lib.training.budget import TuningBudget

log = logging.getLogger(__name__)

SESSION_ATTR = "tuning_session"
WORKER_ATTR = "worker"
SURPLUS_ATTR = "surplus"
# A worker whose trials could not be logged in MLflow records how many on the study, under
# this prefix and its label, for the leader to report.
NOT_LOGGED_ATTR = "trials_not_logged"
# How often a leader waiting for other workers' trials looks at the study.
POLL_S = 1.0

Callback = Callable[[Any, Any], None]


@dataclass(frozen=True)
class TrialRuns:
    """Where every worker logs its trials: child runs of the family's MLflow run."""

    tracking_uri: str
    parent_run_id: str
    experiment_id: str


@dataclass(frozen=True)
class Session:
    """What every worker of one search must agree on, published on the study by the leader.

    Attributes:
        deadline: wall-clock (``time.time()``) end of the search, so workers on other
            machines stop at the same moment as the leader.
        leader: the leading process, ``host:pid``.
    """

    family: str
    budget: TuningBudget
    seed: int
    deadline: float
    leader: str = ""
    trial_runs: TrialRuns | None = None

    @classmethod
    def start(
        cls, family: str, budget: TuningBudget, seed: int, trial_runs: TrialRuns | None = None
    ) -> Session:
        """A session whose deadline is the budget's seconds from now."""
        return cls(
            family=family,
            budget=budget,
            seed=seed,
            deadline=time.time() + budget.timeout_s,
            leader=f"{socket.gethostname()}:{os.getpid()}",
            trial_runs=trial_runs,
        )

    @property
    def key(self) -> str:
        """Tells this session from earlier ones of the same study (a resumed search)."""
        return f"{self.leader}@{self.deadline:.3f}"

    def seconds_left(self) -> float:
        """Seconds until the deadline (negative once passed)."""
        return self.deadline - time.time()

    def publish(self, study: Any) -> None:
        """Write the session on the study (a later leader's session replaces it)."""
        study.set_user_attr(SESSION_ATTR, dataclasses.asdict(self))

    @classmethod
    def read(cls, study: Any) -> Session | None:
        """The session published on the study, if any."""
        raw = study.user_attrs.get(SESSION_ATTR)
        if raw is None:
            return None
        runs = raw.get("trial_runs")
        return cls(
            **{
                **raw,
                "budget": TuningBudget(**raw["budget"]),
                "trial_runs": TrialRuns(**runs) if runs else None,
            }
        )


class SurplusTrialError(Exception):
    """A trial started after every share of the budget was held (a race between workers)."""


class _QuietSurplus(logging.Filter):
    """Optuna logs each failed trial as a warning with its traceback; a surplus trial is
    bookkeeping, not a failure, so its two lines are dropped from the step's log."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers: set[int] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(f"Trial {n} failed") for n in self.numbers)


_quiet_surplus = _QuietSurplus()
logging.getLogger("optuna.study._optimize").addFilter(_quiet_surplus)


def budget_left(study: Any, n_trials: int) -> bool:
    """Whether a worker has something to run: a queued retry, or a share of the budget free."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return True
    held = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    return sum(t.state in held for t in trials) < n_trials


def shares_held_before(study: Any, number: int) -> int:
    """How many trials numbered before ``number`` hold a share of the budget."""
    from optuna.trial import TrialState

    holding = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
    return sum(t.number < number for t in study.get_trials(deepcopy=False, states=holding))


def record_not_logged(study: Any, session: Session, label: str, trials: int, error: str) -> None:
    """Record on the study how many of this worker's trials have no MLflow run."""
    study.set_user_attr(
        f"{NOT_LOGGED_ATTR}:{label}", {"session": session.key, "trials": trials, "error": error}
    )


def not_logged(study: Any, session: Session) -> tuple[int, str]:
    """This session's trials without an MLflow run, every worker's, and the first error."""
    total, errors = 0, []
    for name, value in study.user_attrs.items():
        if name.startswith(f"{NOT_LOGGED_ATTR}:") and value.get("session") == session.key:
            total += int(value.get("trials", 0))
            if value.get("error"):
                errors.append(str(value["error"]))
    return total, (errors[0] if errors else "")
