"""The MLflow Model Registry as the source of truth for which model serves.

Aliases, not the deprecated stages: every new candidate is registered and gets the alias
``challenger``; promotion moves the alias ``champion`` and records who, when and why as tags on
the version (and which version it replaced, so a rollback knows where to go back to). Old
versions are never deleted.

A move of ``champion`` happens in two steps, so the registry never names a champion whose
bento does not exist (batch scoring, drift and the retrain trigger all follow ``@champion``):

1. The decision (the gate approves, an operator asks for a rollback) is *requested*:
   :func:`request_promotion` / :func:`request_rollback` record the move as the tag
   ``pending_move`` on the target version and point the alias ``next_champion`` at it.
   Nothing that serves or scores reads ``next_champion``.
2. Once the target's bento is built and published, :func:`complete_move` writes the history
   tags and moves ``champion``: the alias is always the last write.

A move is pending while ``next_champion`` names another version than ``champion``; a crash at
any point leaves either the old champion with the move still pending (the next ``churn_bento``
finishes it) or the move done. Tags written before a crash are written again, with the same
values, by the retry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from churn_assets.lib.serving.bundle import ModelSlot

CHAMPION = "champion"
CHALLENGER = "challenger"
NEXT_CHAMPION = "next_champion"
PENDING_TAG = "pending_move"
# Gate outcomes for which every criterion passed (``forced`` may have overridden failures).
PASSING_OUTCOMES = frozenset({"promoted", "dry_run_pass"})


class RegistryError(RuntimeError):
    """A registry operation cannot be done (e.g. nothing to roll back to)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# The Dagster run that registered a version (promotion_decision tags it).
RUN_TAG = "dagster.run_id"


def register_challenger(model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register a logged model as a new version of ``name`` with the alias ``challenger``.

    Idempotent per Dagster run: when ``tags`` name the run (``dagster.run_id``) and a version
    of the same model from the same run exists (a retried step that had registered it before
    failing), that version takes the alias instead of a duplicate being registered.

    Returns:
        The version number (as a string).
    """
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    run_id = tags.get(RUN_TAG)
    if run_id:
        for earlier in client.search_model_versions(f"name = '{name}'"):
            if earlier.source == model_uri and (earlier.tags or {}).get(RUN_TAG) == run_id:
                client.set_registered_model_alias(name, CHALLENGER, earlier.version)
                return str(earlier.version)
    version = mlflow.register_model(model_uri, name, tags={**tags, "registered_at": _now()})
    client.set_registered_model_alias(name, CHALLENGER, version.version)
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


@dataclass(frozen=True)
class PendingMove:
    """A requested move of ``champion`` whose bento is not built yet."""

    kind: Literal["promote", "rollback"]
    name: str
    version: str  # the version that becomes champion
    from_version: str | None  # the champion when the move was requested
    actor: str
    reason: str
    requested_at: str
    evidence: dict


def _request(move: PendingMove) -> PendingMove:
    from mlflow import MlflowClient

    client = MlflowClient()
    record = {k: v for k, v in move.__dict__.items() if k != "name"}
    client.set_model_version_tag(
        move.name, move.version, PENDING_TAG, json.dumps(record, default=str)[:5000]
    )
    # The pointer last: without it the tag alone is only history.
    client.set_registered_model_alias(move.name, NEXT_CHAMPION, move.version)
    return move


def request_promotion(
    name: str, version: str, actor: str, reason: str, evidence: dict
) -> PendingMove:
    """Record that ``version`` is to become champion once its bento exists (see the module
    docstring); ``champion`` does not move here."""
    current = version_by_alias(name, CHAMPION)
    return _request(
        PendingMove(
            "promote",
            name,
            str(version),
            str(current.version) if current is not None else None,
            actor,
            reason,
            _now(),
            evidence,
        )
    )


def request_rollback(name: str, actor: str, reason: str) -> PendingMove:
    """Record that ``champion`` is to go back to the version the current champion replaced,
    once that version's bento is rebuilt. Replaces a pending promotion, if any.

    Raises:
        RegistryError: when there is no champion or it replaced nothing.
    """
    current = version_by_alias(name, CHAMPION)
    if current is None:
        raise RegistryError(f"model {name!r} has no {CHAMPION!r} alias: nothing to roll back")
    target = (current.tags or {}).get("previous_champion") or ""
    if not target:
        raise RegistryError(
            f"{name!r} version {current.version} replaced no earlier champion: nothing to "
            "roll back to"
        )
    return _request(
        PendingMove("rollback", name, target, str(current.version), actor, reason, _now(), {})
    )


def pending_move(name: str) -> PendingMove | None:
    """The requested move not completed yet, or ``None``."""
    target = version_by_alias(name, NEXT_CHAMPION)
    if target is None:
        return None
    current = version_by_alias(name, CHAMPION)
    if current is not None and str(current.version) == str(target.version):
        return None  # done (the alias moved; nothing was written after it)
    raw = (target.tags or {}).get(PENDING_TAG)
    try:
        record = json.loads(raw) if raw else {}
    except ValueError:
        record = {}
    return PendingMove(
        kind="rollback" if record.get("kind") == "rollback" else "promote",
        name=name,
        version=str(target.version),
        from_version=record.get("from_version"),
        actor=record.get("actor") or "unknown",
        reason=record.get("reason") or f"{PENDING_TAG} tag missing or unreadable",
        requested_at=record.get("requested_at") or "",
        evidence=record.get("evidence") or {},
    )


def complete_move(move: PendingMove) -> AliasMove:
    """Write the move's history tags, then move ``champion`` (the last write)."""
    if move.kind == "rollback":
        return _rollback_to(move.name, move.version, move.actor, move.reason)
    return promote(move.name, move.version, move.actor, move.reason, move.evidence)


def promote(name: str, version: str, actor: str, reason: str, evidence: dict) -> AliasMove:
    """Point ``champion`` at ``version``; record who/when/why and the version it replaced.

    Every tag is written before the alias moves, so a crash in between leaves the old
    champion serving with its own history intact, and a retry writes the same tags again.
    """
    from mlflow import MlflowClient

    client = MlflowClient()
    previous = version_by_alias(name, CHAMPION)
    previous_version = str(previous.version) if previous is not None else None
    at = _now()
    if previous_version == str(version):  # already champion: nothing to record or move
        replaced = (previous.tags or {}).get("previous_champion") or None
        return AliasMove(name, replaced, str(version), actor, reason, at)
    for key, value in {
        "promoted_at": at,
        "promoted_by": actor,
        "promotion_reason": reason,
        "previous_champion": previous_version or "",
        "promotion_evidence": json.dumps(evidence, default=str)[:5000],
    }.items():
        client.set_model_version_tag(name, version, key, value)
    if previous_version:
        client.set_model_version_tag(name, previous_version, "replaced_at", at)
        client.set_model_version_tag(name, previous_version, "replaced_by_version", version)
    client.set_registered_model_alias(name, CHAMPION, version)
    return AliasMove(name, previous_version, str(version), actor, reason, at)


def _rollback_to(name: str, target: str, actor: str, reason: str) -> AliasMove:
    from mlflow import MlflowClient

    client = MlflowClient()
    current = version_by_alias(name, CHAMPION)
    at = _now()
    if current is None or str(current.version) == target:
        return AliasMove(name, None, target, actor, reason, at)
    client.set_model_version_tag(name, str(current.version), "rolled_back_at", at)
    client.set_model_version_tag(name, str(current.version), "rolled_back_by", actor)
    client.set_model_version_tag(name, str(current.version), "rollback_reason", reason)
    client.set_model_version_tag(name, target, "restored_at", at)
    # The restored version's own history stays intact; the next rollback goes further back.
    client.set_registered_model_alias(name, CHAMPION, target)
    return AliasMove(name, str(current.version), target, actor, reason, at)


def rollback(name: str, actor: str, reason: str) -> AliasMove:
    """Move ``champion`` back to the version the current champion replaced, at once (no
    bento in between: for a registry without a served bento; the platform's rollback job
    requests the move and lets ``churn_bento`` complete it).

    Raises:
        RegistryError: when there is no champion or it replaced nothing.
    """
    return complete_move(request_rollback(name, actor, reason))


def serving_slot(name: str, alias: str) -> ModelSlot | None:
    """What serving and batch scoring need of the version holding ``alias`` (see
    :func:`slot_of`). ``None`` when no version holds the alias."""
    version = version_by_alias(name, alias)
    return None if version is None else slot_of(name, version)


def version_slot(name: str, version: str) -> ModelSlot:
    """:func:`slot_of` the version numbered ``version``."""
    from mlflow import MlflowClient

    return slot_of(name, MlflowClient().get_model_version(name, str(version)))


def slot_of(name: str, version: Any) -> ModelSlot:
    """Version, family, decision threshold, calibration and lineage of a model version
    (from its tags, else its MLflow run).

    Raises:
        RegistryError: when the version records no decision threshold (not registered by
            this platform's gate).
    """
    from mlflow import MlflowClient

    from churn_assets.lib.serving.bundle import ModelSlot

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


def traffic_eligibility(tags: dict[str, str]) -> tuple[bool, str]:
    """Whether a challenger (by its version tags) may be packaged beside the champion, in
    shadow or answering A/B traffic, and why: only a version the gate judged with every
    criterion passed, and not rolled back since."""
    outcome = tags.get("gate_outcome")
    if not outcome:
        return False, "never judged by the gate (no gate_outcome tag)"
    if tags.get("rolled_back_at"):
        return False, f"rolled back at {tags['rolled_back_at']}: {tags.get('rollback_reason', '')}"
    passed = tags.get("gate_all_passed")
    if passed == "true" or (passed is None and outcome in PASSING_OUTCOMES):
        return True, f"gate outcome {outcome}, every criterion passed"
    return False, f"gate outcome {outcome}: {tags.get('gate_reason', 'criteria failed')}"
