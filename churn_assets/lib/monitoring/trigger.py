"""When to retrain: k breaching batches out of the last n, with a cooldown (hysteresis).

Each monitored batch (a month of scored customers) yields a :class:`BatchOutcome` with three
signals: data drift (inputs moved), prediction drift (the score distribution moved) and a
performance drop (only known once labels arrive; None before). :func:`decide` turns the
history into one of three actions:

* ``retrain``: at least ``k`` of the last ``n`` eligible batches breached, and the last
  retraining request is older than the cooldown;
* ``reevaluate``: some evidence short of that -- the latest batch breached but fewer than
  ``k`` breaches are in the window, or it drifted without meeting the breach rule, or ``k``
  breaches are there but the cooldown is running. Re-evaluation is cheap (score the champion
  again, refresh the report), retraining is not, so a single signal only asks for a look;
* ``none``: the latest eligible batch is clean and fewer than ``k`` breaches are in the window.

Hysteresis comes from three places: one breach never retrains (``k`` > 1), breaches must be
recent (within ``n`` batches), and a retraining request silences retraining for ``cooldown``.

Which batches count:

* only those scored by the **current champion** version: after a promotion the window starts
  again, since the old model's breaches say nothing about the new one;
* only those with at least ``min_rows`` rows: drift tests on a few hundred rows are noise, so
  a small batch counts as neither breach nor clean and is skipped (listed in the decision);
* a batch evaluated twice by the same model counts once, with its latest evaluation.

**Default breach rule**: ``performance_drop or (data_drift and prediction_drift)``.

* A performance drop (on labelled rows) is direct evidence that the model got worse, so it
  suffices alone.
* Before labels arrive, drift is the only evidence, but either detector alone raises false
  alarms: data drift tests over twenty-odd features flag *something* most months (tenure
  ageing, a harmless category mix change), and a retrain for drift the model handles fine
  only churns versions and spends the cooldown. Requiring the inputs to move **and** the
  scores to move with them means the shift is both real and material to the model's output.
* Either drift alone still asks for a re-evaluation.

The motivating scenario (k=2, n=3): month 4 clean gives ``none``; month 5, hit by covariate
drift (price rise) and concept drift, breaches once and gives ``reevaluate``; month 6 drifts
likewise, the second breach in the window gives ``retrain``.

A drift report whose metadata is not a verdict raises :class:`VerdictError` (never a silent
skip): the month is unknown, left out of the window and named in the decision's reason.

Sensors store ``last_retrain_at`` (when the last retraining run *succeeded*, see
:mod:`~churn_assets.lib.monitoring.requests`) in their own cursor; :attr:`Decision.latest_batch` and
:attr:`Decision.model_version` make good run keys so that re-deciding on the same history
does not launch the same run twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from churn_assets.lib.monitoring.config import SIGNALS, TriggerConfig

Action = Literal["none", "reevaluate", "retrain"]
_SIGNAL_WORDS = {
    "data_drift": "data drift",
    "prediction_drift": "prediction drift",
    "performance_drop": "performance drop",
}


class VerdictError(ValueError):
    """A drift report's metadata is not a verdict the trigger can read (a field missing or
    of the wrong type): the month counts as unknown, and the sensor reports it."""


@dataclass(frozen=True)
class BatchOutcome:
    """What monitoring concluded about one batch.

    Attributes:
        batch: The batch key, ``YYYY-MM``.
        rows: Rows monitored.
        data_drift: The input features drifted from the reference.
        prediction_drift: The score distribution drifted.
        performance_drop: The model's quality dropped on labelled rows; None before labels.
        evaluated_at: When monitoring ran.
        model_version: The model version that scored the batch.
    """

    batch: str
    rows: int
    data_drift: bool
    prediction_drift: bool
    performance_drop: bool | None
    evaluated_at: datetime
    model_version: str

    def signals(self) -> tuple[str, ...]:
        """The names of the signals that are true."""
        return tuple(s for s in SIGNALS if getattr(self, s) is True)

    @classmethod
    def from_drift_metadata(
        cls, batch: str, metadata: Mapping[str, Any], evaluated_at: datetime
    ) -> BatchOutcome | None:
        """The trigger's view of one drift report, from the numbers it recorded
        (:meth:`~churn_assets.lib.monitoring.drift.DriftResult.to_metadata` plus
        ``model_version``); None for a month too small for a verdict.

        Raises:
            VerdictError: the metadata is not a verdict (a field missing or unreadable).
                Never dropped silently: the month is unknown, which the sensor logs, alerts
                once and lists in its decision.
        """
        # A month too small for a verdict is neither a breach nor clean: it must not dilute
        # the trigger's window.
        if not metadata.get("sufficient_sample", 1.0):
            return None
        try:
            performance = metadata.get("performance_drop_breached")
            labelled = "roc_auc_drop" in metadata
            return cls(
                batch=batch,
                rows=int(metadata["current_rows"]),
                data_drift=bool(metadata["data_drift_breached"]),
                prediction_drift=bool(metadata["prediction_drift_breached"]),
                performance_drop=bool(performance) if labelled else None,
                evaluated_at=evaluated_at,
                model_version=str(metadata["model_version"]),
            )
        except KeyError as exc:
            raise VerdictError(f"{batch}: the drift report has no {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise VerdictError(f"{batch}: the drift report's verdict is unreadable: {exc}") from exc


@dataclass(frozen=True)
class Decision:
    """The trigger's verdict and the evidence behind it.

    Attributes:
        action: ``none``, ``reevaluate`` or ``retrain``.
        reason: One human-readable sentence.
        breaching_batches: Batch keys in the window that breached, oldest first.
        considered_batches: Batch keys in the window (at most ``n``), oldest first.
        skipped_batches: Batches of the current model skipped for having too few rows.
        unknown_batches: Batches whose verdict could not be read (any model): not counted.
        latest_batch: The newest considered batch, if any.
        model_version: The champion version whose batches were considered.
        next_retrain_allowed_at: End of the running cooldown, None when none runs.
    """

    action: Action
    reason: str
    breaching_batches: tuple[str, ...] = ()
    considered_batches: tuple[str, ...] = ()
    skipped_batches: tuple[str, ...] = ()
    unknown_batches: tuple[str, ...] = ()
    latest_batch: str | None = None
    model_version: str | None = None
    next_retrain_allowed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for logs and Dagster metadata."""
        allowed = self.next_retrain_allowed_at
        return {
            "action": self.action,
            "reason": self.reason,
            "breaching_batches": list(self.breaching_batches),
            "considered_batches": list(self.considered_batches),
            "skipped_batches": list(self.skipped_batches),
            "unknown_batches": list(self.unknown_batches),
            "latest_batch": self.latest_batch,
            "model_version": self.model_version,
            "next_retrain_allowed_at": allowed.isoformat() if allowed else None,
        }


def humanize(delta: timedelta) -> str:
    """A duration in words, at most two units: ``2 days``, ``4 days 21 hours``, ``30 seconds``."""
    seconds = max(0, int(delta.total_seconds()))
    units = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))
    parts: list[str] = []
    for name, size in units:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {name}{'s' if count != 1 else ''}")
        if parts and (len(parts) == 2 or not count):
            break  # two units at most, and never "2 days 0 hours 5 minutes"
    return " ".join(parts) or "0 seconds"


def _keys(outcomes: Iterable[BatchOutcome]) -> str:
    return ", ".join(o.batch for o in outcomes)


def _breaches(count: int) -> str:
    return f"{count} breach{'es' if count != 1 else ''}"


def _eligible(
    outcomes: Sequence[BatchOutcome], version: str, min_rows: int
) -> tuple[list[BatchOutcome], list[BatchOutcome]]:
    """The current model's batches, one evaluation each, split into (eligible, too small)."""
    latest: dict[str, BatchOutcome] = {}
    for outcome in sorted(outcomes, key=lambda o: o.evaluated_at):
        if outcome.model_version == version:
            latest[outcome.batch] = outcome  # a re-evaluation replaces the earlier one
    ordered = [latest[key] for key in sorted(latest)]  # YYYY-MM sorts chronologically
    return [o for o in ordered if o.rows >= min_rows], [o for o in ordered if o.rows < min_rows]


def decide(
    outcomes: Sequence[BatchOutcome],
    last_retrain_at: datetime | None,
    now: datetime,
    config: TriggerConfig | None = None,
    current_model_version: str | None = None,
    unknown_batches: Sequence[str] = (),
) -> Decision:
    """Decide whether monitoring results call for nothing, a re-evaluation or a retraining.

    Args:
        outcomes: Per-batch monitoring outcomes, any model version, chronological.
        last_retrain_at: When retraining was last requested, None if never.
        now: The decision time (same timezone-awareness as the other datetimes).
        config: Thresholds; the defaults when None.
        current_model_version: The champion's version; only its batches count. None means
            the version of the most recently evaluated outcome.
        unknown_batches: Batches whose verdict could not be read: the window is made of the
            others (an unreadable month neither breaches nor is clean), and the reason says
            which were left out.

    Returns:
        The decision, with the batches it considered and a readable reason.
    """
    decision = _decide(outcomes, last_retrain_at, now, config, current_model_version)
    unknown = tuple(sorted(set(unknown_batches)))
    if not unknown:
        return decision
    note = f" (verdict unreadable, not counted: {', '.join(unknown)})"
    return dataclasses.replace(decision, reason=decision.reason + note, unknown_batches=unknown)


def _decide(
    outcomes: Sequence[BatchOutcome],
    last_retrain_at: datetime | None,
    now: datetime,
    config: TriggerConfig | None,
    current_model_version: str | None,
) -> Decision:
    config = config or TriggerConfig()
    if current_model_version is None:
        if not outcomes:
            return Decision("none", "no monitored batches yet")
        current_model_version = max(outcomes, key=lambda o: o.evaluated_at).model_version
    version = current_model_version
    eligible, small = _eligible(outcomes, version, config.min_rows)
    window = eligible[-config.n :]
    breaching = [o for o in window if config.is_breach(o)]
    common: dict[str, Any] = {
        "breaching_batches": tuple(o.batch for o in breaching),
        "considered_batches": tuple(o.batch for o in window),
        "skipped_batches": tuple(o.batch for o in small),
        "latest_batch": window[-1].batch if window else None,
        "model_version": version,
    }
    allowed_at = last_retrain_at + config.cooldown if last_retrain_at is not None else None
    in_cooldown = allowed_at is not None and now < allowed_at
    if in_cooldown:
        common["next_retrain_allowed_at"] = allowed_at

    if not window:
        reason = f"no batch scored by model {version} with at least {config.min_rows} rows yet"
        if small:
            reason += f" (skipped as too small: {_keys(small)})"
        return Decision("none", reason, **common)

    latest = window[-1]
    if len(breaching) >= config.k:
        head = f"{len(breaching)} of the last {len(window)} batches breached ({_keys(breaching)})"
        if last_retrain_at is not None and allowed_at is not None and in_cooldown:
            reason = (
                f"{head}, but cooldown: last retraining {humanize(now - last_retrain_at)} ago, "
                f"next allowed in {humanize(allowed_at - now)}: re-evaluating"
            )
            return Decision("reevaluate", reason, **common)
        return Decision("retrain", f"{head}: retraining", **common)

    needed = f"{_breaches(len(breaching))}"
    if breaching:
        needed += f" ({_keys(breaching)})"
    needed += f" of {config.k} needed"
    if config.is_breach(latest):
        return Decision("reevaluate", f"{needed}: re-evaluating", **common)
    signals = latest.signals()
    if signals:
        words = " and ".join(_SIGNAL_WORDS[s] for s in signals)
        reason = (
            f"{latest.batch}: {words}, not a breach under '{config.rule()}'; "
            f"{needed}: re-evaluating"
        )
        return Decision("reevaluate", reason, **common)
    reason = f"{latest.batch} clean; {needed} within the last {config.n} batches"
    return Decision("none", reason, **common)
