"""Every job of the platform, in one place.

``churn_pipeline`` is the whole training graph as one run (what `make demo` launches, and what
the retraining trigger and the weekly schedule run); the monitoring jobs are launched by its
sensors and schedules, one month per run; ``rollback_champion`` is an operator action.
Selections name asset keys, so this module imports no asset code.
"""

import dagster as dg

churn_pipeline = dg.define_asset_job(
    "churn_pipeline",
    # Sources included: the run first observes customer_source, recording the data version
    # that raw_customers was built from.
    # champion_rollback is an operator action with its own job, never part of a normal run.
    # Monitoring is per landed month (partitioned) and has its own jobs and sensors.
    selection=dg.AssetSelection.all(include_sources=True)
    - dg.AssetSelection.assets("champion_rollback")
    - dg.AssetSelection.groups("monitoring"),
    description="Materialize every asset (and run every check) from the current data source.",
    # Two cores: two steps at a time. Each step is its own process, so a crashing library
    # cannot take the run down with it.
    config={
        "execution": {
            "config": {"multiprocess": {"max_concurrent": 2, "start_method": {"forkserver": {}}}}
        }
    },
)

ingest_batch = dg.define_asset_job(
    "ingest_batch",
    selection=dg.AssetSelection.assets("landed_batch"),
    description="Validate one landed month (launched by landing_sensor, one run per file).",
)
champion_reevaluation = dg.define_asset_job(
    "champion_reevaluation",
    selection=dg.AssetSelection.assets("model_health"),
    description="Re-evaluate the champion on every labelled month (launched on one breach).",
)
drift_check = dg.define_asset_job(
    "drift_check",
    selection=dg.AssetSelection.assets("batch_scores", "drift_report"),
    description="Re-score a month with the current champion and re-run its drift report "
    "against that champion's reference (after a promotion or rollback both change).",
)
rollback_champion = dg.define_asset_job(
    "rollback_champion",
    selection=dg.AssetSelection.assets("champion_rollback", "churn_bento"),
    description="Move the `champion` alias back to the previous champion (config: reason) and "
    "rebuild the bento for it.",
)
