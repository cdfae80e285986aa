"""The scenario's expectations: a loop that promoted nothing, or failed a run, or left a month
without a drift report, is named, not passed."""

from __future__ import annotations

import copy

import pytest

from churn_assets.lib.monitoring.loop_expectations import unmet

LANDED = [f"2026-0{i}" for i in range(1, 7)]
DONE = {
    "drift": {m: {"breached": m >= "2026-05", "model_version": "1"} for m in LANDED},
    "triggered": ["champion_reevaluation:reevaluate", "churn_pipeline:retrain"],
    "promotion": {"outcome": "promoted", "champion_before": "1", "champion_after": "2"},
    "bento": "churn_service:v2",
    "runs": {"total": 25, "failed": 0},
}


def _broken(path: tuple[str, ...], value: object) -> dict:
    summary = copy.deepcopy(DONE)
    target = summary
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return summary


def test_the_default_scenario_done_has_nothing_unmet() -> None:
    assert unmet(DONE, LANDED, LANDED[4:]) == []


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("runs", "failed"), 1, "1 run(s) failed"),
        (("drift",), {m: {"breached": False} for m in LANDED[:5]}, "no drift report for 2026-06"),
        (("drift", "2026-05", "breached"), False, "expected months 2026-05, 2026-06 to breach"),
        (("triggered",), ["champion_reevaluation:reevaluate"], "no retraining"),
        (("promotion", "outcome"), "rejected", "v2 was not promoted"),
        (("promotion", "champion_after"), "1", "v2 was not promoted"),
        (("bento",), "churn_service:v1", "the bento does not serve v2"),
    ],
)
def test_what_did_not_happen_is_named(path: tuple[str, ...], value: object, named: str) -> None:
    problems = unmet(_broken(path, value), LANDED, LANDED[4:])
    assert any(named in p for p in problems), problems


def test_other_arguments_are_held_to_the_basics_only() -> None:
    unpromoted = _broken(("bento",), "churn_service:v1")
    assert unmet(unpromoted, LANDED) == []
    assert unmet(_broken(("runs", "failed"), 2), LANDED) == ["2 run(s) failed"]
