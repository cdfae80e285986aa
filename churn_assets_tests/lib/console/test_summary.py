"""The summary and progress text from plain metadata: a rejected gate says why, a failure
comes last with its step, cause and log, each step's key number is its metadata's."""

from __future__ import annotations

import pytest

from churn_assets.lib.console.facts import (
    Check,
    RunFacts,
    StepFailure,
    Version,
    finding,
    markdown_rows,
)
from churn_assets.lib.console.loop import render_loop
from churn_assets.lib.console.progress import duration, headline, progress_line
from churn_assets.lib.console.status import Drift, JobRun, render_status
from churn_assets.lib.console.summary import render

CRITERIA = """\
| name               | passed   |   value |   threshold | detail                        |
|:-------------------|:---------|--------:|------------:|:------------------------------|
| roc_auc_floor      | True     |  0.7422 |      0.7    | test ROC-AUC floor            |
| fairness_eo_gender | False    |  0.3167 |      0.2    | equalized odds within limit   |
"""
GATE_CHECK = Check(
    asset="promotion_decision",
    name="gate_fairness",
    passed=False,
    description="equalized odds difference within the limit — failed: ['fairness_eo_gender']",
    metadata={
        "fairness_eo_gender": {"passed": False, "threshold": 0.2, "value": 0.3167},
        "fairness_dp_gender": {"passed": True, "threshold": 0.15, "value": 0.0991},
    },
    step="promotion_decision",
)


def rejected_run() -> RunFacts:
    """A run whose gate rejected the candidate: a decision, so the run succeeded and
    churn_bento, with nothing to build, materialized nothing."""
    return RunFacts(
        job="churn_pipeline",
        run_id="420f6312",
        status="SUCCESS",
        seconds=145.1,
        steps=["promotion_decision", "churn_bento"],
        finished={"promotion_decision": "succeeded", "churn_bento": "succeeded"},
        assets={
            "validated_customers": {
                "rows_received": 1200,
                "rows_valid": 1196,
                "rows_quarantined": 4,
                "rejected_share": 4 / 1200,
            },
            "promotion_decision": {
                "outcome": "rejected",
                "mode": "enforce",
                "reason": "failed: fairness_eo_gender",
                "registered_model": "churn-model",
                "challenger_version": "1",
                "champion_before": "none",
                "champion_after": "none",
                "criteria": CRITERIA,
                "decision_record": "http://127.0.0.1:5000/#/experiments/1/runs/abc",
            },
        },
        checks=[GATE_CHECK],
    )


def failed_run() -> RunFacts:
    """A run that really failed: a store was away when the gate registered the model."""
    facts = rejected_run()
    facts.status, facts.finished = "FAILURE", {"promotion_decision": "failed"}
    del facts.assets["promotion_decision"]
    facts.checks = []
    facts.failures = [StepFailure("promotion_decision", "StoreUnavailableError: bucket down")]
    facts.log_path = ".churn/logs/churn_pipeline.log"
    facts.log_tail = ["RUN_FAILURE - Execution of run failed."]
    return facts


def test_a_rejection_is_a_decision_the_summary_explains() -> None:
    lines = render(rejected_run())
    text = "\n".join(lines)
    assert lines[0] == "churn_pipeline succeeded in 2 min 25 s (run 420f6312)"
    assert "decision               REJECTED (mode enforce)" in text
    assert "reason                 failed: fairness_eo_gender" in text
    assert "fairness_eo_gender: 0.3167 vs limit 0.2" in text
    assert "roc_auc_floor" not in text  # only what failed
    assert "a decision, not a failure" in text
    assert "decision record        http://127.0.0.1:5000/#/experiments/1/runs/abc" in text
    assert "not built (the gate rejected); nothing is served yet" in text
    assert "rows in                1,200" in text and "quarantined            4 (0.3%)" in text
    assert "failed step" not in text and "did not succeed" not in text
    # With a champion already served, the summary says it keeps serving.
    facts = rejected_run()
    facts.assets["promotion_decision"]["champion_before"] = "3"
    assert "champion v3 keeps serving: make serve" in "\n".join(render(facts))


def test_a_candidate_waiting_for_approval_says_how_to_answer() -> None:
    facts = rejected_run()
    facts.assets["promotion_decision"].update(
        outcome="pending_approval",
        mode="approve",
        reason="all criteria passed; waiting for approval",
        champion_before="3",
        champion_after="3",
        approval="waiting until 2026-12-05T09:00:00+00:00: run approve_candidate (approver, …)",
    )
    text = "\n".join(render(facts))
    assert "decision               PENDING_APPROVAL (mode approve)" in text
    assert (
        "what now               waiting until 2026-12-05T09:00:00+00:00: run approve_candidate"
        in text
    )
    assert "not built (waits for approval); champion v3 keeps serving" in text
    assert "a decision, not a failure" not in text


def test_a_failure_comes_last_with_its_step_cause_and_log() -> None:
    lines = render(failed_run())
    assert lines[0] == "churn_pipeline FAILED in 2 min 25 s (run 420f6312)"
    tail = lines[-6:]
    assert tail[1].split() == ["failed", "step", "promotion_decision"]
    assert "StoreUnavailableError: bucket down" in tail[2]
    assert tail[3].split() == ["not", "run", "churn_bento"]
    assert tail[4].endswith(".churn/logs/churn_pipeline.log")
    assert tail[5].endswith("Execution of run failed.")


def test_what_a_failed_check_found() -> None:
    assert finding(GATE_CHECK) == "fairness_eo_gender 0.3167 (limit 0.2)"
    why = "20% of rows quarantined (limit 5%)"
    share = Check("validated_customers", "rejected_share", False, "ERROR", why, {"value": 0.2})
    assert finding(share) == why
    share.metadata["threshold"] = 0.05
    assert finding(share) == "20% of rows quarantined (limit 5%): value 0.2 (threshold 0.05)"


def test_markdown_rows_reads_the_metadata_tables() -> None:
    rows = markdown_rows(CRITERIA)
    assert [r["name"] for r in rows] == ["roc_auc_floor", "fairness_eo_gender"]
    assert rows[1]["passed"] == "False" and rows[1]["value"] == "0.3167"
    assert markdown_rows("no table") == [] and markdown_rows(None) == []


@pytest.mark.parametrize(
    ("assets", "checks", "expected"),
    [
        (
            {"validated_customers": {"rows_valid": 1196, "rows_quarantined": 4},
             "quarantined_customers": {"dagster/row_count": 4}},
            [],
            "1,196 validated, 4 quarantined",
        ),
        (
            {"tuned_xgboost": {"trials_this_run": 12, "best_cv_roc_auc": 0.83619}},
            [],
            "12 trials, best CV AUC 0.8362",
        ),
        (
            {"train_set": {"dagster/row_count": 7}, "validation_set": {"dagster/row_count": 2},
             "test_set": {"dagster/row_count": 3}},
            [],
            "train 7 / validation 2 / test 3",
        ),
        ({"drift_report": {"breached": True, "model_version": "2"}}, [],
         "drift BREACHED (model v2)"),
        ({}, [GATE_CHECK], "check gate_fairness FAILED"),
        (
            {},
            [Check("churn_bento", "bento_matches_registry", True, "WARN", "",
                   {"skipped": "the gate rejected v2 (roc_auc_floor)"})],
            "skipped: the gate rejected v2 (roc_auc_floor)",
        ),
    ],
)  # fmt: skip
def test_the_key_number_of_a_step(assets: dict, checks: list, expected: str) -> None:
    assert headline(assets, checks) == expected


def test_progress_line_and_durations() -> None:
    line = progress_line(7, 23, 62, "tuned_logreg", "succeeded", "2 trials")
    assert line.startswith("[ 7/23  1 min 2 s] tuned_logreg ") and line.endswith(" 2 trials")
    assert "FAILED: cause" in progress_line(1, 2, 1, "x", "failed", "cause")
    assert [duration(s) for s in (None, 4.4, 3600 + 120)] == ["?", "4 s", "1 h 02 min"]


def test_status_text() -> None:
    champion = Version("champion", "2", "logreg", 0.84123, "2026-12-01 22:39 UTC", "by me")
    last = JobRun(
        "churn_pipeline", "SUCCESS", "2026-12-01 22:36 UTC", 181, "49e8f5f3abc", "retrain"
    )
    lines = render_status(
        {"CHURN_HOME": ".churn"},
        [champion],
        [last, JobRun("rollback_champion")],
        Drift("2026-06", True, "1", "tenure, Contract"),
        ["drift breached in 2026-06"],
    )
    text = "\n".join(lines)
    assert "champion               v2  logreg  test ROC-AUC 0.8412  since 2026-12-01" in text
    assert "SUCCESS  2026-12-01 22:36 UTC in 3 min 1 s, by retrain (run 49e8f5f3)" in text
    assert "rollback_champion      never run" in text
    assert "2026-06                BREACHED (model v1); drifted: tenure, Contract" in text
    assert lines[-2:] == ["Open alerts (1)", "  - drift breached in 2026-06"]


def test_loop_text() -> None:
    summary = {
        "phases": [{"phase": "month 5 lands", "runs": 6, "failed_runs": 0, "seconds": 95}],
        "drift": {"2026-05": {"breached": True, "model_version": "1"}},
        "triggered": ["churn_pipeline:retrain", "drift_check:promotion", "drift_check:promotion"],
        "promotion": {"outcome": "promoted", "champion_before": "1", "champion_after": "2"},
        "bento": "churn_service:v2",
        "runs": {"total": 20, "failed": 0},
        "total_seconds": 700,
    }  # fmt: skip
    text = "\n".join(render_loop(summary))
    assert "[1 min 35 s] month 5 lands: 6 runs, none failed" in text
    assert "2026-05    BREACHED  v1" in text and "2 x drift_check:promotion" in text
    assert "Gate: promoted; champion 1 -> 2; bento churn_service:v2" in text
