"""The closed loop, unattended, on simulated months: months 1-3 train the first champion;
month 4 (no drift) is ingested, scored and found clean, and nothing retrains; months 5-6
(covariate + concept drift) breach twice, which confirms the drift, retrains, lets the gate
promote the new model and rebuilds the bento. Every step is asserted from the instance's
event log (materializations, check results, run tags), not from printed output.

In one process through the test harness `LoopDriver`, to assert each decision as it is made;
`test_daemon.py` plays a shorter scenario on the real daemon."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest

from churn_assets.lib.ingestion.simulator import (
    DriftSpec,
    SimulatorConfig,
    simulate,
    write_monthly_files,
)
from churn_assets.lib.training.families import FAMILIES
from churn_assets_tests.defs.test_definitions import FAST_TUNING
from churn_assets_tests.loop_driver import LoopDriver

pytestmark = pytest.mark.slow

DRIFT = DriftSpec(start_month=4, price_rise=0.15, month_to_month_shift=0.2, concept_shift=0.6)


def _latest(instance: dg.DagsterInstance, asset: str) -> dict[str, dict]:
    """Partition (or "") -> metadata of its latest materialization."""
    records = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
    out: dict[str, dict] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        metadata = record.asset_materialization.metadata
        out[record.partition_key or ""] = {k: v.value for k, v in metadata.items()}
    return out


def _runs(instance: dg.DagsterInstance, **tags: str) -> list:
    return list(instance.get_runs(filters=dg.RunsFilter(tags=tags)))


def test_drift_confirmed_retrains_promotes_and_rebuilds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, churn_home: Path
) -> None:
    landing, staged = tmp_path / "landing", tmp_path / "staged"
    monkeypatch.setenv("CHURN_DATA_URI", str(landing))
    monkeypatch.setenv("CHURN_MONITORING_SETTLE_SECONDS", "0")
    monkeypatch.setenv("CHURN_MONITORING_RETRAIN_COOLDOWN_HOURS", "0")
    months = write_monthly_files(
        simulate(SimulatorConfig(n_customers=3000, months=6, seed=21, drift=DRIFT)), staged
    )
    landing.mkdir()
    for path in months[:3]:
        path.rename(landing / path.name)

    with dg.instance_for_test() as instance:
        tuning = {f"tuned_{f}": {"config": FAST_TUNING} for f in FAMILIES}
        driver = LoopDriver(instance, run_config_ops=tuning)

        # Months 1-3: the first champion, served.
        assert driver.run_job("churn_pipeline").success
        assert _latest(instance, "promotion_decision")[""]["outcome"] == "promoted"
        assert _latest(instance, "churn_bento")[""]["bento_tag"] == "churn_service:v1"

        # The landing sensor picks up the three months once; automation scores them.
        steps = driver.land(landing)
        assert all(step.success for step in steps)
        assert sorted(_latest(instance, "landed_batch")) == ["2026-01", "2026-02", "2026-03"]
        assert not driver.tick("landing_sensor").runs  # exactly once

        # Month 4, no drift: ingested, scored, clean; no retraining.
        months[3].rename(landing / months[3].name)
        assert all(step.success for step in driver.land(landing))
        scores = _latest(instance, "batch_scores")["2026-04"]
        assert scores["model_version"] == "1" and scores["rows"] == 3000
        clean = _latest(instance, "drift_report")["2026-04"]
        assert clean["breached"] == 0.0, clean
        # Performance is judged against v1's held-out test ROC-AUC (the reference logged with
        # it), not against its own training rows.
        v1_test_auc = _latest(instance, "evaluation_report")[""]["test_roc_auc"]
        assert clean["reference_roc_auc"] == pytest.approx(v1_test_auc, abs=1e-4)
        assert driver.tick("retrain_sensor").skip_reason

        # Month 5 drifts: one breach re-evaluates the champion but does not retrain.
        months[4].rename(landing / months[4].name)
        assert all(step.success for step in driver.land(landing))
        first_breach = _latest(instance, "drift_report")["2026-05"]
        assert first_breach["breached"] == 1.0, first_breach
        step = driver.tick("retrain_sensor")
        assert [r.success for r in step.runs] == [True]
        assert len(_runs(instance, **{"churn/trigger": "reevaluate"})) == 1
        health = _latest(instance, "model_health")[""]
        assert (health["model_version"], health["latest_month"]) == ("1", "2026-05")
        assert not _runs(instance, **{"churn/trigger": "retrain"})

        # Month 6 drifts too: 2 of the last 3 months breached -> retrain, gate, bento.
        months[5].rename(landing / months[5].name)
        assert all(step.success for step in driver.land(landing))
        assert _latest(instance, "drift_report")["2026-06"]["breached"] == 1.0
        step = driver.tick("retrain_sensor")
        assert len(step.runs) == 1 and step.runs[0].success
        retrain = _runs(instance, **{"churn/trigger": "retrain"})
        assert len(retrain) == 1
        decision = _latest(instance, "promotion_decision")[""]
        assert (decision["outcome"], decision["champion_before"], decision["champion_after"]) == (
            "promoted",
            "1",
            "2",
        )
        # Better, not just "not worse": on the same test rows (half of them drifted) the new
        # model's ROC-AUC beats the old champion's.
        gate = {c.check_name: c for c in step.runs[0].get_asset_check_evaluations()}
        vs_champion = gate["gate_no_regression"].metadata["no_regression_vs_champion"].value
        assert vs_champion["value"] > 0, vs_champion
        bento = _latest(instance, "churn_bento")[""]
        assert (bento["bento_tag"], bento["champion_version"]) == ("churn_service:v2", "2")
        assert (churn_home / "bentoml" / "bentos" / "churn_service" / "v2").is_dir()
        # The retraining run saw all six months.
        raw = _latest(instance, "raw_customers")[""]
        assert len(raw["files"]) == 6

        # After the promotion the breaches of v1's months no longer count: no second retrain.
        assert not driver.tick("retrain_sensor").runs

        # The daily drift check on month 6: re-scored by v2, judged against v2's own
        # reference (its held-out test ROC-AUC).
        assert driver.run_job("drift_check", partition_key="2026-06").success
        assert _latest(instance, "batch_scores")["2026-06"]["model_version"] == "2"
        report = _latest(instance, "drift_report")["2026-06"]
        assert (report["reference"], report["model_version"]) == ("logged with v2", "2")
        v2_test_auc = _latest(instance, "evaluation_report")[""]["test_roc_auc"]
        assert report["reference_roc_auc"] == pytest.approx(v2_test_auc, abs=1e-4)

        # A champion registered without one (before references existed) is still
        # monitored, against the current train_set, and the report says so.
        run_id = _latest(instance, "drift_reference")[""]["artifact"].split("/")[1]
        logged = churn_home / "mlflow" / "artifacts" / run_id / "artifacts" / "monitoring_reference"
        assert logged.is_dir()
        shutil.rmtree(logged)
        assert driver.execute([dg.AssetKey("drift_report")], "2026-06").success
        report = _latest(instance, "drift_report")["2026-06"]
        assert report["reference"] == "current train_set (fallback)"
