"""The champion, ready for batch work: the model behind ``@champion`` in the MLflow registry,
compiled with the same :class:`~churn_assets.lib.serving.scorer.CompiledScorer` as the
service, so a customer gets the same score from the nightly table and from the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churn_assets.lib.contract import DataContract
    from churn_assets.lib.serving.bundle import ModelSlot


@dataclass
class Champion:
    """The current champion, ready for batch work."""

    slot: ModelSlot
    model: Any  # the registered sklearn model
    scorer: Any  # its CompiledScorer

    @property
    def version(self) -> str:
        return self.slot.version


def load_champion(model_name: str, contract: DataContract) -> Champion:
    """The model behind ``@champion`` in the MLflow registry, compiled for scoring.

    Raises:
        LookupError: when no version holds the alias yet.
    """
    import mlflow

    from churn_assets.lib.registry import aliases as registry
    from churn_assets.lib.serving.scorer import CompiledScorer

    slot = registry.serving_slot(model_name, registry.CHAMPION)
    if slot is None:
        raise LookupError(
            f"registered model {model_name!r} has no @champion yet: train and promote one "
            "first (the churn_pipeline job)"
        )
    model = mlflow.sklearn.load_model(slot.model_uri)
    return Champion(slot, model, CompiledScorer.compile(model, contract, slot.family))


def held_out_roc_auc(champion: Champion) -> float | None:
    """The ROC-AUC the champion had on its own held-out test rows (logged with its MLflow
    run by the evaluation), None when its run has none."""
    from mlflow import MlflowClient

    if not champion.slot.mlflow_run_id:
        return None
    run = MlflowClient().get_run(champion.slot.mlflow_run_id)
    return run.data.metrics.get("test_roc_auc") or None
