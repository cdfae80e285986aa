"""Jobs: the whole training graph as one run (what `make demo` launches, and what the
retraining trigger and the weekly schedule run)."""

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
