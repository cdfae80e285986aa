"""The retraining trigger: k of n breaching batches, min_rows, cooldown, champion window."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from churn_assets.lib.monitoring.config import TriggerConfig
from churn_assets.lib.monitoring.trigger import (
    BatchOutcome,
    Decision,
    VerdictError,
    decide,
    humanize,
)

NOW = datetime(2026, 7, 10, 12, 0, tzinfo=UTC)
NO_COOLDOWN = TriggerConfig(cooldown=timedelta(0))


def batch(
    key: str,
    *,
    rows: int = 5000,
    data: bool = False,
    pred: bool = False,
    perf: bool | None = None,
    model: str = "v1",
    at: datetime | None = None,
) -> BatchOutcome:
    """One monitoring outcome; evaluated a few days after its month by default."""
    year, month = map(int, key.split("-"))
    evaluated = at or datetime(year, month, 1, tzinfo=UTC) + timedelta(days=33)
    return BatchOutcome(key, rows, data, pred, perf, evaluated, model)


def drifted(key: str, **kwargs) -> BatchOutcome:
    """A month hit by covariate drift (inputs and scores move) and concept drift (AUC drops)."""
    return batch(key, data=True, pred=True, perf=True, **kwargs)


def test_scenario_clean_then_two_drifted_months_retrains_after_the_second() -> None:
    history = [batch("2026-04")]
    first = decide(history, None, NOW)
    assert first.action == "none"
    assert first.reason == "2026-04 clean; 0 breaches of 2 needed within the last 3 batches"

    history.append(drifted("2026-05"))
    second = decide(history, None, NOW)
    assert second.action == "reevaluate"
    assert second.reason == "1 breach (2026-05) of 2 needed: re-evaluating"
    assert second.breaching_batches == ("2026-05",)

    history.append(drifted("2026-06"))
    third = decide(history, None, NOW)
    assert third.action == "retrain"
    assert third.reason == "2 of the last 3 batches breached (2026-05, 2026-06): retraining"
    assert third.breaching_batches == ("2026-05", "2026-06")
    assert third.considered_batches == ("2026-04", "2026-05", "2026-06")
    assert third.latest_batch == "2026-06"
    assert third.model_version == "v1"


def test_scenario_before_labels_arrive_uses_both_drifts() -> None:
    # Labels lag: performance is unknown, but inputs and scores both moved.
    history = [batch("2026-04"), batch("2026-05", data=True, pred=True)]
    assert decide(history, None, NOW).action == "reevaluate"
    history.append(batch("2026-06", data=True, pred=True))
    assert decide(history, None, NOW).action == "retrain"


@pytest.mark.parametrize(
    ("signals", "breach", "action", "reason_part"),
    [
        ({}, False, "none", "2026-05 clean"),
        ({"data": True}, False, "reevaluate", "2026-05: data drift, not a breach under"),
        ({"pred": True}, False, "reevaluate", "2026-05: prediction drift, not a breach"),
        ({"data": True, "pred": True}, True, "reevaluate", "1 breach (2026-05) of 2 needed"),
        ({"perf": True}, True, "reevaluate", "1 breach (2026-05) of 2 needed"),
        ({"perf": False, "data": True}, False, "reevaluate", "data drift, not a breach"),
        ({"perf": None}, False, "none", "2026-05 clean"),
    ],
)
def test_default_breach_rule(signals: dict, breach: bool, action: str, reason_part: str) -> None:
    outcome = batch("2026-05", **signals)
    assert TriggerConfig().is_breach(outcome) is breach
    decision = decide([batch("2026-04"), outcome], None, NOW)
    assert decision.action == action
    assert reason_part in decision.reason


def test_rule_in_words_and_custom_rule() -> None:
    assert TriggerConfig().rule() == "performance_drop or (data_drift and prediction_drift)"
    data_only = TriggerConfig(breach_when=(("data_drift",),), cooldown=timedelta(0))
    assert data_only.rule() == "data_drift"
    history = [batch("2026-05", data=True), batch("2026-06", data=True)]
    assert decide(history, None, NOW, data_only).action == "retrain"
    assert decide(history, None, NOW).action == "reevaluate"


B, C = True, False  # breach, clean


@pytest.mark.parametrize(
    ("k", "n", "pattern", "action", "breaching"),
    [
        (2, 3, [B, C, B], "retrain", 2),
        (2, 3, [B, C, C, B], "reevaluate", 1),  # the first breach fell out of the window
        (2, 3, [B, C, C], "none", 1),  # one old breach, latest clean
        (2, 3, [B, B], "retrain", 2),  # fewer batches than n is fine
        (2, 2, [B, C, B], "reevaluate", 1),
        (1, 1, [C, B], "retrain", 1),
        (1, 3, [B, C, C], "retrain", 1),  # k=1: one breach in the window suffices
        (3, 3, [B, B, C], "none", 2),
        (3, 3, [B, C, B, B], "reevaluate", 2),
        (3, 5, [B, C, B, C, B], "retrain", 3),
        (3, 5, [C, C, C, C, C], "none", 0),
    ],
)
def test_k_of_n(k: int, n: int, pattern: list[bool], action: str, breaching: int) -> None:
    keys = [f"2026-{i:02d}" for i in range(1, len(pattern) + 1)]
    history = [drifted(key) if b else batch(key) for key, b in zip(keys, pattern, strict=True)]
    decision = decide(history, None, NOW, TriggerConfig(k=k, n=n, cooldown=timedelta(0)))
    assert decision.action == action
    assert len(decision.breaching_batches) == breaching
    assert len(decision.considered_batches) == min(n, len(pattern))
    assert decision.considered_batches[-1] == f"2026-{len(pattern):02d}"


def test_small_batches_are_skipped_not_clean_nor_breach() -> None:
    config = TriggerConfig(min_rows=1000, cooldown=timedelta(0))
    history = [batch("2026-04"), drifted("2026-05", rows=999), drifted("2026-06")]
    decision = decide(history, None, NOW, config)
    assert decision.action == "reevaluate"  # the small May breach does not count
    assert decision.breaching_batches == ("2026-06",)
    assert decision.considered_batches == ("2026-04", "2026-06")
    assert decision.skipped_batches == ("2026-05",)

    # A small clean batch does not push a breach out of the window either.
    history = [drifted("2026-04"), batch("2026-05", rows=10), batch("2026-06", rows=10)]
    history.append(drifted("2026-07"))
    decision = decide(history, None, NOW, TriggerConfig(k=2, n=2, cooldown=timedelta(0)))
    assert decision.action == "retrain"
    assert decision.considered_batches == ("2026-04", "2026-07")

    only_small = decide([drifted("2026-05", rows=5)], None, NOW, config)
    assert only_small.action == "none"
    assert only_small.reason == (
        "no batch scored by model v1 with at least 1000 rows yet (skipped as too small: 2026-05)"
    )


def test_cooldown_turns_retrain_into_reevaluate() -> None:
    history = [batch("2026-04"), drifted("2026-05"), drifted("2026-06")]
    last = NOW - timedelta(days=2)
    decision = decide(history, last, NOW)  # default cooldown: 7 days
    assert decision.action == "reevaluate"
    assert decision.reason == (
        "2 of the last 3 batches breached (2026-05, 2026-06), but cooldown: last retraining "
        "2 days ago, next allowed in 5 days: re-evaluating"
    )
    assert decision.next_retrain_allowed_at == last + timedelta(days=7)
    assert decision.breaching_batches == ("2026-05", "2026-06")

    assert decide(history, last, last + timedelta(days=7)).action == "retrain"
    assert decide(history, last, NOW, NO_COOLDOWN).action == "retrain"
    assert decide(history, NOW, NOW, NO_COOLDOWN).action == "retrain"
    # A cooldown does not hold back a re-evaluation, and is not mentioned without k breaches.
    single = decide(history[:2], last, NOW)
    assert single.action == "reevaluate"
    assert "cooldown" not in single.reason


def test_a_new_champion_restarts_the_window() -> None:
    history = [batch("2026-04"), drifted("2026-05"), drifted("2026-06")]
    history.append(batch("2026-07", model="v2"))
    decision = decide(history, None, NOW, NO_COOLDOWN, current_model_version="v2")
    assert decision.action == "none"
    assert decision.considered_batches == ("2026-07",)
    assert decision.model_version == "v2"
    # Without an explicit version, the most recently evaluated outcome's model is current.
    assert decide(history, None, NOW, NO_COOLDOWN).considered_batches == ("2026-07",)
    # The old champion's breaches still add up for the old champion.
    assert decide(history, None, NOW, NO_COOLDOWN, "v1").action == "retrain"

    none_yet = decide(history, None, NOW, NO_COOLDOWN, current_model_version="v3")
    assert none_yet.action == "none"
    assert none_yet.reason == "no batch scored by model v3 with at least 1000 rows yet"


def test_a_reevaluated_batch_counts_once_with_its_latest_result() -> None:
    later = datetime(2026, 6, 20, tzinfo=UTC)
    history = [drifted("2026-05"), batch("2026-05", at=later), drifted("2026-06")]
    decision = decide(history, None, NOW, NO_COOLDOWN)
    assert decision.considered_batches == ("2026-05", "2026-06")
    assert decision.action == "reevaluate"  # May's breach was withdrawn on re-evaluation


def test_no_outcomes() -> None:
    decision = decide([], None, NOW)
    assert decision == Decision("none", "no monitored batches yet")
    assert decide([], None, NOW, current_model_version="v1").action == "none"


def test_to_dict_is_json_ready() -> None:
    history = [drifted("2026-05"), drifted("2026-06")]
    last = NOW - timedelta(hours=3)
    payload = decide(history, last, NOW).to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert payload["action"] == "reevaluate"
    assert payload["breaching_batches"] == ["2026-05", "2026-06"]
    assert payload["next_retrain_allowed_at"] == (last + timedelta(days=7)).isoformat()
    assert "last retraining 3 hours ago, next allowed in 6 days 21 hours" in payload["reason"]


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(0), "0 seconds"),
        (timedelta(seconds=1), "1 second"),
        (timedelta(seconds=90), "1 minute 30 seconds"),
        (timedelta(hours=3), "3 hours"),
        (timedelta(days=2), "2 days"),
        (timedelta(days=2, minutes=5), "2 days"),
        (timedelta(days=4, hours=21, minutes=59), "4 days 21 hours"),
        (timedelta(seconds=-5), "0 seconds"),
    ],
)
def test_humanize(delta: timedelta, words: str) -> None:
    assert humanize(delta) == words


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k": 0},
        {"k": 4, "n": 3},
        {"min_rows": -1},
        {"cooldown": timedelta(seconds=-1)},
        {"breach_when": ()},
        {"breach_when": ((),)},
        {"breach_when": (("label_drift",),)},
    ],
)
def test_invalid_config(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        TriggerConfig(**kwargs)


def test_a_drift_report_becomes_an_outcome_unless_it_is_no_verdict() -> None:
    verdict = {
        "current_rows": 1500.0,
        "data_drift_breached": 1.0,
        "prediction_drift_breached": 0.0,
        "performance_drop_breached": 0.0,
        "model_version": "1",
    }
    # A month too small for a verdict is neither breach nor clean: it must not dilute the window.
    small = {**verdict, "sufficient_sample": 0.0}
    assert BatchOutcome.from_drift_metadata("2026-07", small, NOW) is None
    counted = BatchOutcome.from_drift_metadata(
        "2026-07", {**verdict, "sufficient_sample": 1.0}, NOW
    )
    assert counted is not None and counted.performance_drop is None  # no labels: unknown
    assert (counted.rows, counted.signals(), counted.model_version) == (1500, ("data_drift",), "1")
    labelled = BatchOutcome.from_drift_metadata("2026-07", {**verdict, "roc_auc_drop": 0.01}, NOW)
    assert labelled is not None and labelled.performance_drop is False
    # Not a verdict at all: an error naming the month and the field, never a silent None.
    with pytest.raises(VerdictError, match="2026-07: the drift report has no 'data_drift_"):
        BatchOutcome.from_drift_metadata("2026-07", {"current_rows": 5.0}, NOW)
    with pytest.raises(VerdictError, match=r"2026-07: .* unreadable"):
        BatchOutcome.from_drift_metadata("2026-07", {**verdict, "current_rows": "many"}, NOW)


def test_an_unreadable_month_is_left_out_and_named_and_the_others_still_retrain() -> None:
    """k=2 of n=3: 2026-04 and 2026-06 breach, 2026-05's verdict is unreadable. The window
    is made of the readable months, so the trigger still fires, and says what it left out."""
    history = [drifted("2026-04"), drifted("2026-06")]
    decision = decide(history, None, NOW, NO_COOLDOWN, unknown_batches=["2026-05"])
    assert decision.action == "retrain"
    assert decision.unknown_batches == ("2026-05",)
    assert decision.reason.endswith("(verdict unreadable, not counted: 2026-05)")
    assert decide(history, None, NOW, NO_COOLDOWN).unknown_batches == ()
