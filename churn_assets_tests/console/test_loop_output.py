"""`make loop`'s last words: for a program (stdout captured, as the benchmark and the team
test read it) the JSON stays alone on stdout and the text goes to stderr; the JSON is also
kept in CHURN_HOME/loop_summary.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from churn_assets.console.loop_summary import report


def test_captured_stdout_gets_the_json_and_stderr_the_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = {
        "phases": [{"phase": "month 4 lands", "runs": 3, "failed_runs": 1, "seconds": 40}],
        "drift": {"2026-04": {"breached": True, "model_version": "1"}},
        "triggered": ["champion_reevaluation:reevaluate"],
        "promotion": {"outcome": "promoted", "champion_before": "1", "champion_after": "2"},
        "bento": "churn_service:v2",
        "runs": {"total": 9, "failed": 1},
        "total_seconds": 300.0,
    }
    report(summary, ["churn_pipeline succeeded in 3 min 0 s (run abc)"], tmp_path)
    out, err = capsys.readouterr()
    assert json.loads(out[out.index("{") :]) == summary
    assert json.loads((tmp_path / "loop_summary.json").read_text()) == summary
    assert "[      40 s] month 4 lands: 3 runs, 1 FAILED" in err
    assert "churn_pipeline succeeded in 3 min 0 s" in err
    assert "2026-04    BREACHED" in err
