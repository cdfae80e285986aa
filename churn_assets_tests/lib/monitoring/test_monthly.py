"""Where a month's verdict goes: the breach alert and the Prometheus textfile."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from churn_assets.lib.monitoring.monthly import breach_alert, export_gauges


def _result(breaches: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(
        breached=bool(breaches),
        breaches=breaches,
        drifted_columns=["MonthlyCharges", "Contract"],
        performance=None,
        drifted_share=0.4,
        n_drifted=2,
        prediction_drift_score=0.9,
        current_rows=100,
    )


def test_an_alert_only_on_a_breach_naming_the_month_and_what_drifted() -> None:
    assert breach_alert("2026-05", _result({}), "1") is None
    alert = breach_alert("2026-05", _result({"data_drift": "a", "prediction_drift": "b"}), "1")
    assert alert == {
        "kind": "drift_breach",
        "severity": "warning",
        "title": "Drift breach in 2026-05",
        "text": "a; b",
        "fields": {"batch": "2026-05", "model_version": "1", "drifted": "MonthlyCharges, Contract"},
    }


def test_the_gauges_go_to_one_textfile_per_month_under_home(tmp_path: Path) -> None:
    path = export_gauges("2026-05", _result({"data_drift": "a"}), "3", tmp_path)
    assert path.name == "churn_drift_2026-05.prom" and tmp_path in path.parents
    assert 'model_version="3"' in path.read_text()
