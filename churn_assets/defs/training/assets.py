"""Training: one tuned model per family (Optuna, tracked in MLflow) and the champion candidate."""

import os
from typing import Literal

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform, MlflowTracking
from churn_assets.lib import settings
from churn_assets.lib.training.families import FAMILIES, Family, spec
from churn_assets.lib.training.policy import ChampionPolicy, TuningPolicy

GROUP = "training"


class TuningConfig(dg.Config, TuningPolicy):
    """Search budget of one family. Unset values come from the preset."""

    preset: Literal["demo", "thorough"] = "demo"
    n_trials: int | None = None
    timeout_s: float | None = None
    cv_folds: int | None = None
    threads: int = 1
    # Processes searching this family's study together (this one leads; keep
    # workers x threads x concurrent steps <= cores). n_trials is the study's total.
    workers: int = 1
    # One time budget for all families (seconds, summed over the families), split by how
    # promising each was in its previous study (lib/training/search_budget.py); replaces
    # timeout_s. Give every tuned_<family> the same value.
    total_budget_s: float | None = None
    # Optuna RDB URL (postgresql+psycopg2://...); empty: $CHURN_OPTUNA_STORAGE, else a
    # journal file under CHURN_HOME (one machine only).
    storage_url: str = ""


# Per-step pod resources when steps run as Kubernetes pods (CHURN_EXECUTOR=k8s): a search
# keeps its threads busy and holds the training matrix plus a model per CV fold.
TUNING_POD = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {
                "requests": {"cpu": "2", "memory": "4Gi"},
                "limits": {"memory": "8Gi"},
            }
        }
    }
}


def _mlflow_link(link: str) -> dg.MetadataValue:
    """A run link: clickable for a tracking server, as text for a local store."""
    return dg.MetadataValue.url(link) if link.startswith("http") else dg.MetadataValue.text(link)


def _tuned_model_asset(family: Family) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"tuned_{family}",
        group_name=GROUP,
        io_manager_key="artifact_io_manager",
        kinds={"optuna", "mlflow", *spec(family).kinds},
        code_version="1",
        op_tags=TUNING_POD,
        description=(
            f"The best {family} configuration found by an Optuna study (TPE, seeded; median "
            "pruning over CV folds; early stopping for boosters), refitted on all training "
            "rows behind the fitted preprocessing. Every trial is a nested MLflow run. A new "
            "study starts from the champion's and the last study's best parameters."
        ),
    )
    def tuned_model(
        context: dg.AssetExecutionContext,
        config: TuningConfig,
        platform: ChurnPlatform,
        mlflow: MlflowTracking,
        train_set,
        feature_preprocessor,
    ) -> dg.Output:
        from churn_assets.defs.metadata import markdown
        from churn_assets.lib.training.budget import tuning_budget
        from churn_assets.lib.training.training_data import TrainingDataError
        from churn_assets.lib.training.trial_runs import owner_tags
        from churn_assets.lib.training.tuned import prepare_tuning, run_tuning

        contract = platform.contract()
        budget = tuning_budget(
            config.preset,
            threads=config.threads,
            n_trials=config.n_trials,
            timeout_s=config.timeout_s,
            cv_folds=config.cv_folds,
        )
        try:
            job = prepare_tuning(
                family,
                train_set,
                feature_preprocessor,
                contract,
                budget,
                home=platform.home_path,
                storage_url=config.storage_url
                or os.environ.get(settings.OPTUNA_STORAGE_ENV_VAR, ""),
                workers=config.workers,
                seed=config.seed,
                registered_model=platform.registered_model,
                total_budget_s=config.total_budget_s,
            )
            tags = {
                "family": family,
                "optuna.study": job.study_name,
                "contract": contract.name,
                # If this step is killed, the next search of the study ends the run.
                **owner_tags(),
            }
            with mlflow.start_run(context, f"tune-{family}", tags=tags) as run:
                tuned = run_tuning(
                    job, contract, run.info.run_id, mlflow.experiment_id(), context.log.info
                )
        except TrainingDataError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        result = tuned.result
        link = mlflow.run_url(run.info.run_id)
        context.log.info(f"{family}: best CV ROC-AUC {result.best_cv_auc:.4f}; MLflow: {link}")
        if result.trials_not_logged:
            context.log.warning(
                f"{family}: {result.trials_not_logged} trial(s) have no MLflow run (the "
                f"tracking store failed: {result.trial_logging_error}); the study has them all"
            )
        if result.orphaned_runs_ended:
            context.log.warning(
                f"{family}: ended {len(result.orphaned_runs_ended)} MLflow run(s) a killed "
                f"search had left RUNNING: {', '.join(result.orphaned_runs_ended)}"
            )
        return dg.Output(
            tuned,
            metadata={
                "best_cv_roc_auc": result.best_cv_auc,
                "trials_complete": result.n_complete,
                "trials_pruned": result.n_pruned,
                "trials_failed": result.n_failed,
                "trials_this_run": result.trials_this_run,
                "trials_not_logged": result.trials_not_logged,
                "trial_logging_error": result.trial_logging_error or "none",
                "orphaned_runs_ended": dg.MetadataValue.json(result.orphaned_runs_ended),
                "tuning_workers": result.workers,
                "trials_by_worker": dg.MetadataValue.json(result.trials_by_worker),
                "tuning_seconds": round(result.seconds, 1),
                "boosting_rounds": result.final_rounds or 0,
                "best_params": dg.MetadataValue.json(result.best_params),
                # What the new study queued first (the champion's, the last study's best).
                "warm_start": dg.MetadataValue.json(result.warm_start),
                "budget_split": dg.MetadataValue.json(job.budget_split or {"total_s": None}),
                "optuna_study": job.study_name,
                "mlflow_run": _mlflow_link(link),
                "mlflow_run_id": run.info.run_id,
                "mlflow_model_uri": tuned.mlflow_model_uri,
                "top_trials": markdown(result.top_trials(10).astype(str)),
            },
        )

    return tuned_model


tuned_models = [_tuned_model_asset(family) for family in FAMILIES]


class ChampionConfig(dg.Config, ChampionPolicy):
    """How the champion candidate is chosen and where its threshold sits."""


@dg.asset(
    group_name=GROUP,
    io_manager_key="artifact_io_manager",
    kinds={"sklearn", "mlflow"},
    code_version="1",
    ins={f"tuned_{family}": dg.AssetIn() for family in FAMILIES},
)
def champion_candidate(
    context: dg.AssetExecutionContext,
    config: ChampionConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    train_set,
    validation_set,
    **tuned,
) -> dg.Output:
    """The best candidate on the validation rows, one of the tuned families or their stacked
    ensemble (a logistic blend of the families' logits fitted on out-of-fold scores of the
    training rows), calibrated (none / sigmoid / isotonic by out-of-fold Brier score) with the
    decision threshold that maximises expected retention profit under the configured cost
    model; the F1-optimal threshold is reported beside it."""
    from churn_assets.defs.metadata import markdown, png_md
    from churn_assets.lib.plots import profit_png
    from churn_assets.lib.training.candidate import log_candidate, select_candidate
    from churn_assets.lib.training.champion import CostModel

    contract = platform.contract()
    costs = CostModel(config.offer_cost, config.retained_value, config.success_rate)
    selection = select_candidate(
        [tuned[f"tuned_{family}"] for family in FAMILIES],
        validation_set,
        contract,
        costs,
        config.selection_metric,
        seed=config.seed,
        train_set=train_set,
        ensemble=config.ensemble,
        ensemble_folds=config.ensemble_folds,
        ensemble_min_gain=config.ensemble_min_gain,
    )
    if selection.stack is not None:
        context.log.info(f"Ensemble: {selection.stack.describe()}")
    context.log.info(f"Best on validation {config.selection_metric}: {selection.family}")
    with mlflow.start_run(context, "champion-candidate", tags=selection.run_tags(contract)) as run:
        champion = log_candidate(selection, validation_set, contract, run.info.run_id)
    choice = selection.choice
    return dg.Output(
        champion,
        metadata={
            "family": champion.family,
            "calibration": champion.calibration,
            "threshold": choice.threshold,
            "f1_optimal_threshold": choice.f1_threshold,
            "break_even_probability": round(costs.break_even_probability, 4),
            "validation_expected_profit": round(choice.expected_profit, 2),
            "validation_realised_profit": round(choice.realised_profit, 2),
            "validation_profit_per_customer": round(choice.profit_per_customer, 4),
            "offer_rate": round(choice.offer_rate, 4),
            **{f"validation_{k}": round(v, 4) for k, v in selection.metrics.items()},
            "leaderboard": markdown(selection.leaderboard.round(4)),
            "calibration_comparison": markdown(champion.calibration_table.round(5)),
            "profit_curve": png_md(
                profit_png(
                    selection.profit_curve,
                    choice.threshold,
                    choice.f1_threshold,
                    "Profit on validation",
                ),
                "profit vs threshold",
            ),
            "mlflow_run": _mlflow_link(mlflow.run_url(run.info.run_id)),
            "mlflow_run_id": run.info.run_id,
            "mlflow_model_uri": champion.mlflow_model_uri,
            "ensemble": dg.MetadataValue.json(
                {**selection.stack.describe(), "not_chosen": selection.ensemble_note}
                if selection.stack is not None and selection.ensemble_note
                else selection.stack.describe()
                if selection.stack is not None
                else {"built": False, "why": selection.ensemble_note}
            ),
        },
    )
