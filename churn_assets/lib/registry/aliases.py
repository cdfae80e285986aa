"""The MLflow Model Registry as the source of truth for which model serves.

Aliases, not the deprecated stages: every new candidate is registered and gets the alias
``challenger``; promotion moves the alias ``champion`` and records who, when and why as tags on
the version (and which version it replaced, so a rollback knows where to go back to). Old
versions are never deleted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from churn_assets.lib.serving.bundle import ModelSlot

CHAMPION = "champion"
CHALLENGER = "challenger"


class RegistryError(RuntimeError):
    """A registry operation cannot be done (e.g. nothing to roll back to)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def register_challenger(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register a logged model as a new version of ``name`` with the alias ``challenger``.

    Returns:
        The new version number (as a string).
    """
    import mlflow
    from mlflow import MlflowClient

    version = mlflow.register_model(model_uri, name, tags={**tags, "registered_at": _now()})
    MlflowClient().set_registered_model_alias(name, CHALLENGER, version.version)
    return str(version.version)


def version_by_alias(name: str, alias: str) -> Any | None:
    """The model version holding an alias, or ``None`` (also when the model does not exist)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


@dataclass(frozen=True)
class AliasMove:
    """A change of the ``champion`` alias."""

    name: str
    from_version: str | None
    to_version: str
    actor: str
    reason: str
    at: str


def promote(name: str, version: str, actor: str, reason: str, evidence: dict) -> AliasMove:
    """Point ``champion`` at ``version``; record who/when/why and the version it replaced."""
    from mlflow import MlflowClient

    client = MlflowClient()
    previous = version_by_alias(name, CHAMPION)
    previous_version = str(previous.version) if previous is not None else None
    at = _now()
    client.set_registered_model_alias(name, CHAMPION, version)
    for key, value in {
        "promoted_at": at,
        "promoted_by": actor,
        "promotion_reason": reason,
        "previous_champion": previous_version or "",
        "promotion_evidence": json.dumps(evidence, default=str)[:5000],
    }.items():
        client.set_model_version_tag(name, version, key, value)
    if previous_version and previous_version != version:
        client.set_model_version_tag(name, previous_version, "replaced_at", at)
        client.set_model_version_tag(name, previous_version, "replaced_by_version", version)
    return AliasMove(name, previous_version, version, actor, reason, at)


def rollback(name: str, actor: str, reason: str) -> AliasMove:
    """Move ``champion`` back to the version the current champion replaced.

    Raises:
        RegistryError: when there is no champion or it replaced nothing.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    current = version_by_alias(name, CHAMPION)
    if current is None:
        raise RegistryError(f"model {name!r} has no {CHAMPION!r} alias: nothing to roll back")
    target = current.tags.get("previous_champion") or ""
    if not target:
        raise RegistryError(
            f"{name!r} version {current.version} replaced no earlier champion: nothing to "
            "roll back to"
        )
    at = _now()
    client.set_registered_model_alias(name, CHAMPION, target)
    client.set_model_version_tag(name, str(current.version), "rolled_back_at", at)
    client.set_model_version_tag(name, str(current.version), "rolled_back_by", actor)
    client.set_model_version_tag(name, str(current.version), "rollback_reason", reason)
    client.set_model_version_tag(name, target, "restored_at", at)
    # The restored version's own history stays intact; the next rollback goes further back.
    return AliasMove(name, str(current.version), target, actor, reason, at)


def serving_slot(name: str, alias: str) -> ModelSlot | None:
    """What serving and batch scoring need of the version holding ``alias``: version,
    family, decision threshold, calibration and lineage (from the version's tags, else its
    MLflow run). ``None`` when no version holds the alias.

    Raises:
        RegistryError: when the version records no decision threshold (not registered by
            this platform's gate).
    """
    from mlflow import MlflowClient

    from churn_assets.lib.serving.bundle import ModelSlot

    version = version_by_alias(name, alias)
    if version is None:
        return None
    tags = dict(version.tags or {})
    run = MlflowClient().get_run(version.run_id) if version.run_id else None
    metrics = run.data.metrics if run else {}
    params = run.data.params if run else {}
    threshold = tags.get("threshold") or metrics.get("threshold")
    if threshold is None:
        raise RegistryError(
            f"{name} v{version.version} records no decision threshold (tag or run metric "
            "'threshold'); it was not registered by this platform"
        )
    return ModelSlot(
        version=str(version.version),
        family=tags.get("family") or params.get("family", "unknown"),
        threshold=float(threshold),
        calibration=tags.get("calibration") or params.get("calibration", "none"),
        mlflow_run_id=version.run_id,
        model_uri=f"models:/{name}/{version.version}",
    )
