"""The promotion gate and the registry through Dagster: worse challengers are rejected, better
ones approved, dry runs change nothing, force needs a reason, stale reports are refused, no step
needs another's files on disk; `champion` moves only once churn_bento has built the bento (a
failed build leaves it, and the move pending); rollback restores the previous champion."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import joblib
import pytest

from churn_assets.definitions import defs as load_defs
from churn_assets_tests.defs.monitoring.ticks import alerts
from churn_assets_tests.defs.test_definitions import INGESTION, TRAINING, materialized, run

FEATURES = ["customer_features", "train_set", "validation_set", "test_set", "feature_preprocessor"]
NAME = "churn-model"
# The gate reads these reports; they are made again whenever the candidate changes.
GATE = ["evaluation_report", "fairness_report", "promotion_decision"]
# fairness_report's limits opened: on 900 simulated customers the equalized-odds estimate is
# noise (0.30 on 46 churners of one hash split), and the fairness gate has its own case below.
OPEN = {
    "max_equal_opportunity_difference": 1.0,
    "max_demographic_parity_difference": 1.0,
    "max_equalized_odds_difference": 1.0,
}


def _run(selection: list[str], ops: dict | None = None) -> dg.ExecuteInProcessResult:
    job = load_defs().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(k) for k in selection],
        raise_on_error=False,
        run_config={"ops": ops or {}},
    )


def _champion_version(home: Path) -> str | None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    try:
        return str(client.get_model_version_by_alias(NAME, "champion").version)
    except MlflowException:
        return None


@pytest.fixture(scope="module")
def registry_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("registry")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHURN_HOME", str(home))
        mp.setenv("CHURN_DATA_URI", "sim://?customers=900&months=2&seed=6&dirty_rate=0")
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        # churn_bento completes the gate's approval: `champion` moves once the bento exists.
        first = run(
            [*INGESTION, *FEATURES, *TRAINING, "churn_bento"],
            ops={"fairness_report": {"config": OPEN}},
        )
        assert first.success
        yield home


def _worse_candidate(home: Path, with_reference: bool = True) -> None:
    """Replace the stored champion candidate by a constant model (AUC 0.5), logged to MLflow
    (with the monitoring reference drift_reference logged for the real candidate)."""
    import mlflow
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import Pipeline

    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.monitoring.reference import log_reference
    from churn_assets.lib.tracking import log_model

    path = home / "storage" / "champion_candidate.joblib"
    kept = home / "good_candidate.joblib"
    if not kept.exists():  # the real candidate, restored later in the test
        joblib.dump(joblib.load(path), kept)
    good = joblib.load(kept)
    train = __import__("pandas").read_parquet(home / "storage" / "train_set.parquet")
    preprocess = joblib.load(home / "storage" / "feature_preprocessor.joblib")
    bad = Pipeline([("preprocess", preprocess), ("model", DummyClassifier(strategy="prior"))])
    bad.named_steps["model"].fit(preprocess.transform(train[good.input_columns]), train[TARGET_COL])
    from churn_assets.lib.tracking import setup

    # The platform's experiment (artifacts under the home): MLflow's Default experiment would
    # put them in ./mlruns of whatever directory the tests run from.
    experiment = setup(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}", "churn-platform", home)
    with mlflow.start_run(experiment_id=experiment) as run:
        logged = log_model(bad, train[good.input_columns], DataContract.load())
    if with_reference:
        reference = __import__("pandas").read_parquet(home / "storage" / "drift_reference.parquet")
        log_reference(reference, run.info.run_id)
    joblib.dump(
        dataclasses.replace(good, model=bad, mlflow_model_uri=logged.model_uri, mlflow_run_id=None),
        path,
    )


@pytest.mark.slow
def test_gate_lifecycle(
    registry_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    home = registry_home
    monkeypatch.setenv("CHURN_HOME", str(home))
    monkeypatch.setenv("CHURN_DATA_URI", "sim://?customers=900&months=2&seed=6&dirty_rate=0")
    # The first candidate had no champion to beat: approved, built and promoted as v1.
    assert _champion_version(home) == "1"

    # A candidate without the monitoring reference is refused before it is registered.
    _worse_candidate(home, with_reference=False)
    refused = _run(["promotion_decision"])
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "no monitoring reference" in failure.step_failure_data.error.message
    assert _champion_version(home) == "1"

    # Stored reports of another candidate are refused: the gate judges what they measured.
    _worse_candidate(home)
    stale = _run(["promotion_decision"])
    assert not stale.success
    failure = next(e for e in stale.all_events if e.is_step_failure)
    assert "measured another model" in failure.step_failure_data.error.message
    assert _champion_version(home) == "1"

    # A deliberately worse challenger is rejected and `champion` does not move. A rejection
    # is a decision: the run succeeds, the failed criteria are WARN check results, one
    # `gate_rejected` alert names them, and churn_bento is skipped (v1 keeps serving).
    caplog.set_level(logging.INFO)
    caplog.clear()
    result = _run([*GATE, "churn_bento"], {"fairness_report": {"config": OPEN}})
    assert result.success
    done = materialized(result)
    meta = done["promotion_decision"]
    assert meta["outcome"] == "rejected"
    assert meta["champion_after"] == "1"
    assert "roc_auc_floor" in meta["failed_criteria"]
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert evaluations["gate_quality_floors"].passed is False
    assert evaluations["gate_quality_floors"].severity == dg.AssetCheckSeverity.WARN
    assert "churn_bento" not in done
    assert evaluations["bento_matches_registry"].passed
    assert "v1" in (evaluations["bento_matches_registry"].description or "")
    sent = [a for a in alerts(caplog) if a["kind"] in ("gate_rejected", "check_failed")]
    assert [a["kind"] for a in sent] == ["gate_rejected"]
    assert "roc_auc_floor" in sent[0]["text"] and "v1" in sent[0]["title"]
    assert _champion_version(home) == "1"

    # dry_run records a decision and changes nothing, even for a passing challenger.
    joblib.dump(
        joblib.load(home / "good_candidate.joblib"), home / "storage" / "champion_candidate.joblib"
    )
    dry = materialized(
        _run(
            GATE,
            {
                "promotion_decision": {"config": {"mode": "dry_run"}},
                "fairness_report": {"config": OPEN},
            },
        )
    )["promotion_decision"]
    assert dry["outcome"] == "dry_run_pass"
    assert _champion_version(home) == "1"

    # force without a reason is refused.
    forced = _run(["promotion_decision"], {"promotion_decision": {"config": {"mode": "force"}}})
    assert not forced.success
    assert _champion_version(home) == "1"

    # A fairness breach blocks too: fairness_report's limits (tightened to the impossible:
    # any measured gap fails, every group judged) are the gate's.
    impossible = {
        "max_equal_opportunity_difference": 0.0,
        "judged_on": "point",
        "min_group_rows": 1,
        "min_group_positives": 1,
    }
    unfair = _run(
        ["fairness_report", "promotion_decision"], {"fairness_report": {"config": impossible}}
    )
    assert materialized(unfair)["promotion_decision"]["outcome"] == "rejected"
    checks = {e.check_name: e.passed for e in unfair.get_asset_check_evaluations()}
    assert checks == {
        "gate_quality_floors": True,
        "gate_no_regression": True,
        "gate_fairness": False,
        "gate_model_card_complete": True,
    }
    assert _champion_version(home) == "1"

    # An equally good challenger (same model, new version) passes and is approved. Each step
    # runs on an empty reports folder: none reads a file another step left there.
    for step in (["fairness_report"], ["model_card"], ["promotion_decision"]):
        shutil.rmtree(home / "reports", ignore_errors=True)
        done = _run(
            step, {"fairness_report": {"config": OPEN}} if "fairness_report" in step else {}
        )
        assert done.success, step
    promoted = materialized(done)["promotion_decision"]
    assert promoted["outcome"] == "promoted"
    new_version = promoted["challenger_version"]
    assert promoted["champion_after"] == new_version
    assert promoted["pending_move"].startswith(f"promote v{new_version}")
    # The champion's own training customers are recorded (as pseudonyms) for later gates.
    assert promoted["excluded_rows"] == 0 and promoted["compared_rows"] > 0
    # Approved is not served: `champion` stays until the bento exists. A failing build (here
    # a traffic share the bento cannot serve) leaves the registry alone, the move pending.
    assert _champion_version(home) == "1"
    failed = _run(["churn_bento"], {"churn_bento": {"config": {"ab_share": 2.0}}})
    assert not failed.success
    failure = next(e for e in failed.all_events if e.is_step_failure)
    assert "registry is unchanged" in failure.step_failure_data.error.message
    assert _champion_version(home) == "1"
    built = materialized(_run(["churn_bento"]))["churn_bento"]
    assert built["champion_move"] == f"promote: v1 -> v{new_version}"
    assert built["champion_version"] == new_version
    assert _champion_version(home) == new_version != "1"

    # Rollback restores the previous champion, recorded as a materialization.
    job = load_defs().resolve_job_def("rollback_champion")
    rolled = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"champion_rollback": {"config": {"reason": "bad week"}}}},
    )
    meta = materialized(rolled)["champion_rollback"]
    assert (meta["from_version"], meta["to_version"]) == (new_version, "1")
    assert _champion_version(home) == "1"

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    version = client.get_model_version(NAME, new_version)
    assert version.tags["gate_outcome"] == "promoted"
    assert version.tags["previous_champion"] == "1"
    assert version.tags["rollback_reason"] == "bad week"
    # The final model card carries the decision and travels with the model version.
    assert version.tags["model_card"] == "model_card/model_card.md"
    card = client.download_artifacts(version.run_id, "model_card/model_card.md")
    assert "**promoted** (enforce)" in Path(card).read_text()


@pytest.mark.slow
def test_behavioural_check_blocks_downstream(
    registry_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURN_HOME", str(registry_home))
    monkeypatch.setenv("CHURN_DATA_URI", "sim://?customers=900&months=2&seed=6&dirty_rate=0")
    # An expectation no churn model should meet: a two-year contract must not LOWER risk.
    impossible = {
        "directions": [
            {
                "field": "Contract",
                "source": "Month-to-month",
                "target": "Two year",
                "expect": "not_decrease",
            }
        ]
    }
    result = _run(
        ["champion_candidate", "evaluation_report"],
        {"champion_candidate_behavioural_tests": {"config": impossible}},
    )
    verdict = {e.check_name: e for e in result.get_asset_check_evaluations()}["behavioural_tests"]
    assert not verdict.passed
    assert "direction_Contract_Month-to-month_to_Two_year" in verdict.description
    assert "evaluation_report" not in materialized(result)
    # With the default expectations the same model passes.
    default = _run(["champion_candidate", "evaluation_report"])
    passed = {e.check_name: e.passed for e in default.get_asset_check_evaluations()}
    assert passed["behavioural_tests"]
    assert "evaluation_report" in materialized(default)


def _approve(config: dict) -> dg.ExecuteInProcessResult:
    job = load_defs().resolve_job_def("approve_candidate")
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"candidate_approval": {"config": config}}},
        raise_on_error=False,
    )


@pytest.mark.slow
def test_approve_mode_waits_for_a_named_approver(
    registry_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    home = registry_home
    monkeypatch.setenv("CHURN_HOME", str(home))
    monkeypatch.setenv("CHURN_DATA_URI", "sim://?customers=900&months=2&seed=6&dirty_rate=0")
    monkeypatch.setenv("CHURN_APPROVERS", "alice,bob")
    before = _champion_version(home)
    approve_mode = {
        "promotion_decision": {"config": {"mode": "approve"}},
        "fairness_report": {"config": OPEN},
    }

    # The gate passes the candidate, which then waits: the run succeeds, nothing is built,
    # nothing moves, and one alert asks for an approval.
    caplog.set_level(logging.INFO)
    caplog.clear()
    # drift_reference too: an earlier test of this module may have retrained the candidate.
    waiting = _run(["drift_reference", *GATE, "churn_bento"], approve_mode)
    assert waiting.success
    done = materialized(waiting)
    decision = done["promotion_decision"]
    assert decision["outcome"] == "pending_approval", decision["failed_criteria"]
    assert decision["approval"].startswith("waiting until")
    assert decision["pending_move"] == "none"
    assert "churn_bento" not in done
    checks = {e.check_name: e for e in waiting.get_asset_check_evaluations()}
    assert "waits for approval" in checks["bento_matches_registry"].metadata["skipped"].value
    asked = [a for a in alerts(caplog) if a["kind"] == "approval_requested"]
    assert len(asked) == 1 and "approve_candidate" in asked[0]["text"]
    candidate = decision["challenger_version"]
    assert _champion_version(home) == before
    # `make status` shows who waits, and until when.
    from churn_assets.console.registry import versions

    held = {v.alias: v for v in versions(f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")}
    assert held["awaiting_approval"].version == candidate
    assert "waits for approval until" in held["awaiting_approval"].note

    # An approver outside CHURN_APPROVERS is refused; nothing is recorded or moved.
    refused = _approve({"approver": "mallory", "comment": "looks fine"})
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    assert "'mallory' is not an allowed approver" in failure.step_failure_data.error.message
    assert _champion_version(home) == before

    # A listed approver with a comment: the bento is built and `champion` moves, named.
    approved = _approve(
        {"approver": "alice", "comment": "checked the slices", "version": candidate}
    )
    assert approved.success
    meta = materialized(approved)
    assert meta["candidate_approval"]["outcome"] == "approved"
    assert meta["churn_bento"]["champion_move"] == f"promote: v{before} -> v{candidate}"
    assert _champion_version(home) == candidate

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}")
    version = client.get_model_version(NAME, candidate)
    assert (version.tags["approval_outcome"], version.tags["approval_by"]) == ("approved", "alice")
    assert version.tags["promoted_by"] == "alice"
    card = Path(client.download_artifacts(version.run_id, "model_card/model_card.md")).read_text()
    assert "**pending_approval** (approve)" in card
    assert "## Approval" in card and "**approved** by alice" in card

    # A rejection is a decision too: recorded, the champion stays, nothing is built.
    again = materialized(_run(["promotion_decision"], approve_mode))["promotion_decision"]
    assert again["outcome"] == "pending_approval"
    rejected = _approve(
        {"approver": "bob", "comment": "wait for the new month", "verdict": "reject"}
    )
    assert rejected.success
    assert materialized(rejected)["candidate_approval"]["outcome"] == "rejected"
    assert "churn_bento" not in materialized(rejected)
    assert _champion_version(home) == candidate
    tags = client.get_model_version(NAME, again["challenger_version"]).tags
    assert (tags["approval_outcome"], tags["approval_by"]) == ("rejected", "bob")
