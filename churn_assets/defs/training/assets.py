"""Training: one tuned model per family (Optuna, tracked in MLflow) and the champion candidate."""

from typing import Literal

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform, MlflowTracking
from churn_assets.lib.training.families import FAMILIES

GROUP = "training"
KINDS = {
    "logreg": "sklearn",
    "random_forest": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
}


class TuningConfig(dg.Config):
    """Search budget of one family. Unset values come from the preset."""

    preset: Literal["demo", "thorough"] = "demo"
    n_trials: int | None = None
    timeout_s: float | None = None
    cv_folds: int | None = None
    threads: int = 1
    seed: int = 42
    storage_url: str = ""  # Optuna RDB URL (e.g. postgresql://...); empty: journal file


def _tuned_model_asset(family: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"tuned_{family}",
        group_name=GROUP,
        io_manager_key="artifact_io_manager",
        kinds={"optuna", "mlflow", KINDS[family]},
        code_version="1",
        description=(
            f"The best {family} configuration found by an Optuna study (TPE, seeded; median "
            "pruning over CV folds; early stopping for boosters), refitted on all training "
            "rows behind the fitted preprocessing. Every trial is a nested MLflow run."
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
        import dataclasses

        import mlflow as mlflow_lib

        from churn_assets.lib.features.engineering import TARGET_COL
        from churn_assets.lib.features.preprocessing import model_input_columns
        from churn_assets.lib.hashing import frame_hash
        from churn_assets.lib.tracking import log_dataset, log_model, trial_logger
        from churn_assets.lib.training.tuning import (
            TrainingDataError,
            TunedModel,
            check_training_data,
            fit_final,
            study_name,
            study_storage,
            tune,
            tuning_budget,
        )
        from churn_assets.metadata import markdown

        contract = platform.contract()
        budget = tuning_budget(
            config.preset,
            threads=config.threads,
            n_trials=config.n_trials,
            timeout_s=config.timeout_s,
            cv_folds=config.cv_folds,
        )
        columns = model_input_columns(contract)
        X_train = train_set[columns]
        y_train = train_set[TARGET_COL].to_numpy()
        try:
            check_training_data(X_train, y_train, budget.cv_folds)
        except TrainingDataError as exc:
            raise dg.Failure(description=f"{family}: {exc}") from exc

        X = feature_preprocessor.transform(X_train)
        name = study_name(family, frame_hash(train_set))
        storage = study_storage(config.storage_url or None, platform.home_path)
        experiment_id = mlflow.experiment_id()
        context.log.info(
            f"Tuning {family}: study {name!r}, up to {budget.n_trials} trials / "
            f"{budget.timeout_s:.0f} s, {budget.cv_folds}-fold CV, {budget.threads} thread(s)"
        )
        with mlflow.start_run(
            context,
            f"tune-{family}",
            tags={"family": family, "optuna.study": name, "contract": contract.name},
        ) as run:
            log_dataset(train_set, "train_set", TARGET_COL, context="training")
            mlflow_lib.log_params({f"budget.{k}": v for k, v in dataclasses.asdict(budget).items()})

            def progress(study, trial) -> None:
                values = [t.value for t in study.get_trials(deepcopy=False) if t.value is not None]
                value = "" if trial.value is None else f" cv_auc={trial.value:.4f}"
                best = f" (best {max(values):.4f})" if values else ""
                context.log.info(f"{family} trial {trial.number}: {trial.state.name}{value}{best}")

            try:
                result = tune(
                    family,
                    X,
                    y_train,
                    budget,
                    storage,
                    name,
                    seed=config.seed,
                    callbacks=[trial_logger(run.info.run_id, experiment_id, family), progress],
                )
            except TrainingDataError as exc:
                raise dg.Failure(description=str(exc)) from exc
            pipeline = fit_final(
                result, feature_preprocessor, X_train, y_train, budget.threads, config.seed
            )
            mlflow_lib.log_params({f"best.{k}": v for k, v in result.best_params.items()})
            mlflow_lib.log_metrics(
                {
                    "best_cv_roc_auc": result.best_cv_auc,
                    "trials_complete": result.n_complete,
                    "trials_pruned": result.n_pruned,
                    "trials_failed": result.n_failed,
                    "tuning_seconds": result.seconds,
                }
            )
            logged = log_model(pipeline, X_train, contract)
            link = mlflow.run_url(run.info.run_id)
        context.log.info(f"{family}: best CV ROC-AUC {result.best_cv_auc:.4f}; MLflow: {link}")
        tuned = TunedModel(
            family=family,
            pipeline=pipeline,
            input_columns=columns,
            result=result,
            mlflow_run_id=run.info.run_id,
            mlflow_model_uri=logged.model_uri,
        )
        top = result.history.sort_values("value", ascending=False).head(10)
        return dg.Output(
            tuned,
            metadata={
                "best_cv_roc_auc": result.best_cv_auc,
                "trials_complete": result.n_complete,
                "trials_pruned": result.n_pruned,
                "trials_failed": result.n_failed,
                "trials_this_run": result.trials_this_run,
                "tuning_seconds": round(result.seconds, 1),
                "boosting_rounds": result.final_rounds or 0,
                "best_params": dg.MetadataValue.json(result.best_params),
                "optuna_study": name,
                "mlflow_run": link if link.startswith("http") else dg.MetadataValue.text(link),
                "mlflow_run_id": run.info.run_id,
                "mlflow_model_uri": logged.model_uri,
                "top_trials": markdown(top.astype(str)),
            },
        )

    return tuned_model


tuned_models = [_tuned_model_asset(family) for family in FAMILIES]


class ChampionConfig(dg.Config):
    """How the champion candidate is chosen and where its threshold sits."""

    selection_metric: Literal["roc_auc", "pr_auc", "brier", "log_loss"] = "roc_auc"
    offer_cost: float = 50.0
    retained_value: float = 600.0
    success_rate: float = 0.3
    seed: int = 42


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
    validation_set,
    **tuned,
) -> dg.Output:
    """The best family on the validation rows, calibrated (none / sigmoid / isotonic by
    out-of-fold Brier score) with the decision threshold that maximises expected retention
    profit under the configured cost model; the F1-optimal threshold is reported beside it."""
    import mlflow as mlflow_lib

    from churn_assets.lib.features.engineering import TARGET_COL
    from churn_assets.lib.features.preprocessing import model_input_columns
    from churn_assets.lib.plots import profit_png
    from churn_assets.lib.tracking import log_dataset, log_model
    from churn_assets.lib.training.champion import (
        ChampionCandidate,
        CostModel,
        calibrate,
        choose_threshold,
        leaderboard,
        profit_curve,
        score_metrics,
    )
    from churn_assets.metadata import markdown, png_md

    contract = platform.contract()
    columns = model_input_columns(contract)
    X_valid = validation_set[columns]
    y_valid = validation_set[TARGET_COL].to_numpy()
    costs = CostModel(config.offer_cost, config.retained_value, config.success_rate)

    scores = {
        t.family: {
            "cv_roc_auc": t.result.best_cv_auc,
            **score_metrics(y_valid, t.pipeline.predict_proba(X_valid)[:, 1]),
        }
        for t in tuned.values()
    }
    board = leaderboard(scores, config.selection_metric)
    best_family = board.loc[0, "family"]
    best = next(t for t in tuned.values() if t.family == best_family)
    context.log.info(f"Best family on validation {config.selection_metric}: {best_family}")

    calibration = calibrate(best.pipeline, X_valid, y_valid, seed=config.seed)
    choice = choose_threshold(y_valid, calibration.oof_scores, costs)
    metrics = score_metrics(y_valid, calibration.oof_scores)
    curve = profit_curve(y_valid, calibration.oof_scores, costs)

    with mlflow.start_run(
        context,
        "champion-candidate",
        tags={
            "family": best_family,
            "source_run_id": best.mlflow_run_id or "",
            "contract": contract.name,
        },
    ) as run:
        log_dataset(validation_set, "validation_set", TARGET_COL, context="validation")
        mlflow_lib.log_params(
            {
                "family": best_family,
                "calibration": calibration.method,
                "selection_metric": config.selection_metric,
                "offer_cost": costs.offer_cost,
                "retained_value": costs.retained_value,
                "success_rate": costs.success_rate,
            }
        )
        mlflow_lib.log_metrics(
            {
                **{f"validation_{k}": v for k, v in metrics.items()},
                "threshold": choice.threshold,
                "f1_threshold": choice.f1_threshold,
                "expected_profit_validation": choice.expected_profit,
                "realised_profit_validation": choice.realised_profit,
                "profit_per_customer": choice.profit_per_customer,
                "offer_rate": choice.offer_rate,
            }
        )
        mlflow_lib.log_table(board, "leaderboard.json")
        logged = log_model(calibration.model, X_valid, contract)
        link = mlflow.run_url(run.info.run_id)

    champion = ChampionCandidate(
        family=best_family,
        model=calibration.model,
        input_columns=columns,
        threshold=choice.threshold,
        calibration=calibration.method,
        costs=costs,
        selection_metric=config.selection_metric,
        validation_metrics=metrics,
        threshold_choice=choice,
        leaderboard=board,
        calibration_table=calibration.table,
        mlflow_run_id=run.info.run_id,
        mlflow_model_uri=logged.model_uri,
    )
    return dg.Output(
        champion,
        metadata={
            "family": best_family,
            "calibration": calibration.method,
            "threshold": choice.threshold,
            "f1_optimal_threshold": choice.f1_threshold,
            "break_even_probability": round(costs.break_even_probability, 4),
            "validation_expected_profit": round(choice.expected_profit, 2),
            "validation_realised_profit": round(choice.realised_profit, 2),
            "validation_profit_per_customer": round(choice.profit_per_customer, 4),
            "offer_rate": round(choice.offer_rate, 4),
            **{f"validation_{k}": round(v, 4) for k, v in metrics.items()},
            "leaderboard": markdown(board.round(4)),
            "calibration_comparison": markdown(calibration.table.round(5)),
            "profit_curve": png_md(
                profit_png(curve, choice.threshold, choice.f1_threshold, "Profit on validation"),
                "profit vs threshold",
            ),
            "mlflow_run": link if link.startswith("http") else dg.MetadataValue.text(link),
            "mlflow_run_id": run.info.run_id,
            "mlflow_model_uri": logged.model_uri,
        },
    )
