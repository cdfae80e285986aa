"""Every job of the platform, in one place.

``churn_pipeline`` is the whole training graph as one run (what `make demo` launches, and what
the retraining trigger and the weekly schedule run); the monitoring jobs are launched by its
sensors and schedules, one month per run; ``rollback_champion`` is an operator action;
``deploy_champion`` builds the bento and completes a pending champion move (launched by
``serving_consistency`` when the registry and the served bento disagree).
Selections name asset keys, so this module imports no asset code.

Where steps run is configuration, not code: by default each step is a process on the run
worker's machine (multiprocess executor); with ``CHURN_EXECUTOR=k8s`` each step is its own
Kubernetes pod (dagster-k8s' ``k8s_job_executor``, resources from the assets' op tags); with
``CHURN_EXECUTOR=in_process`` every step runs in the run worker's own process (the least
overhead on small data: no process start per step). Whichever, steps share no disk: they
exchange data through the IO manager, MLflow and Postgres.
"""

import os

import dagster as dg

from churn_assets.lib import settings

# Runs that write the training graph's tables, registry aliases and bento carry this tag; the
# run queue (dagster.yaml: tag_concurrency_limits) runs one of them at a time per instance, so
# two retrainings never interleave on the same storage paths. (A constant, not the storage
# URI: tags are fixed when the definitions load, and one instance serves one platform.)
WRITES_TAG = "churn/writes"
TRAINING_GRAPH = {WRITES_TAG: "training-graph"}
# Steps that fail for a reason outside the data (a store briefly away, a killed pod) are
# retried; the assets raise `dg.Failure(allow_retries=False)` for data and configuration
# errors, which retrying cannot mend.
STEP_RETRIES = dg.RetryPolicy(
    max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)


def _executor() -> tuple[dg.ExecutorDefinition | None, dict]:
    """The jobs' executor and its run config (two steps at a time on two cores)."""
    chosen = os.environ.get(settings.EXECUTOR_ENV_VAR, "").lower()
    if chosen == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor, {"execution": {"config": {"max_concurrent": 4}}}
    if chosen == "in_process":
        # Every step in the run worker's process, one after another: no per-step process
        # start (definitions and libraries imported once), no isolation between steps.
        return dg.in_process_executor, {}
    if chosen:
        raise ValueError(
            f"{settings.EXECUTOR_ENV_VAR}={chosen!r} is not an executor of the platform: "
            "unset it (a process per step), or set `in_process` or `k8s`"
        )
    # Each step is its own process, so a crashing library cannot take the run down with it;
    # forked from a server that has imported the definitions and libraries once per run.
    forkserver = {"preload_modules": ["churn_assets.step_preload"]}
    multiprocess = {"max_concurrent": 2, "start_method": {"forkserver": forkserver}}
    return None, {"execution": {"config": {"multiprocess": multiprocess}}}


_EXECUTOR, _EXECUTION = _executor()
# The jobs the platform launches itself run their steps the same way (a run's config may
# still choose another executor): monitoring runs fork from the preloaded server too, or run
# in process. Not the operator actions: a job's config dict is a default for its whole run
# config, which theirs (approver, reason) cannot have.
_STEPS = {"config": _EXECUTION, "executor_def": _EXECUTOR}

churn_pipeline = dg.define_asset_job(
    "churn_pipeline",
    # Sources included: the run first observes customer_source, recording the data version
    # that raw_customers was built from.
    # champion_rollback and candidate_approval are operator actions with their own jobs, never
    # part of a normal run.
    # Monitoring is per landed month (partitioned) and has its own jobs and sensors; on-demand
    # scoring (score_customers) is run by a person or a schedule of their own, and so is the
    # edge export (export_edge_model).
    selection=dg.AssetSelection.all(include_sources=True)
    - dg.AssetSelection.assets("champion_rollback", "candidate_approval")
    - dg.AssetSelection.groups("monitoring", "scoring", "edge"),
    description="Materialize every asset (and run every check) from the current data source.",
    **_STEPS,
    # Run monitoring fails a run past this (the Helm chart has no instance-wide setting).
    tags={**TRAINING_GRAPH, "dagster/max_runtime": "14400"},
    op_retry_policy=STEP_RETRIES,
)

ingest_batch = dg.define_asset_job(
    "ingest_batch",
    **_STEPS,
    selection=dg.AssetSelection.assets("landed_batch"),
    description="Validate one landed month (launched by landing_sensor, one run per file).",
)
champion_reevaluation = dg.define_asset_job(
    "champion_reevaluation",
    **_STEPS,
    selection=dg.AssetSelection.assets("model_health"),
    description="Re-evaluate the champion on every labelled month (launched on one breach).",
)
drift_check = dg.define_asset_job(
    "drift_check",
    **_STEPS,
    selection=dg.AssetSelection.assets("batch_scores", "drift_report"),
    description="Re-score a month with the current champion and re-run its drift report "
    "against that champion's reference (after a promotion or rollback both change).",
)
rollback_champion = dg.define_asset_job(
    "rollback_champion",
    selection=dg.AssetSelection.assets("champion_rollback", "churn_bento"),
    description="Request the move of the `champion` alias back to the previous champion "
    "(config: reason), build its bento, then move the alias.",
    # It moves the alias and rebuilds the bento that a retraining would also write.
    tags=TRAINING_GRAPH,
)
approve_candidate = dg.define_asset_job(
    "approve_candidate",
    selection=dg.AssetSelection.assets("candidate_approval", "churn_bento"),
    description="Approve (or reject) the candidate the gate passed in `approve` mode (config: "
    "approver, comment); approved, its bento is built and `champion` moves to it.",
    tags=TRAINING_GRAPH,
)
deploy_champion = dg.define_asset_job(
    "deploy_champion",
    **_STEPS,
    selection=dg.AssetSelection.assets("churn_bento"),
    description="Build and publish the bento of the champion to be (a pending promotion or "
    "rollback, else the current champion), then move `champion` to it: what mends a "
    "registry/served mismatch.",
    tags=TRAINING_GRAPH,
)
