"""Champion and challenger as the MLflow Model Registry records them."""

from __future__ import annotations

import os
from pathlib import Path

from churn_assets.lib.console.facts import Version
from churn_assets.lib.registry.aliases import CHALLENGER, CHAMPION, NEXT_CHAMPION
from churn_assets.lib.registry.approval import AWAITING, REQUEST_TAG

DEFAULT_MODEL = "churn-model"


def tracking_uri(home: Path) -> str:
    """Where the platform's registry is: ``$MLFLOW_TRACKING_URI``, else SQLite in ``home``
    (as the ``mlflow`` resource resolves it)."""
    from churn_assets.lib.tracking import default_tracking_uri

    return os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(home)


def mlflow_ui(uri: str) -> str:
    """The MLflow UI for ``uri``: the server itself, or what `make mlflow` opens."""
    if uri.startswith(("http://", "https://")):
        return uri
    return "http://127.0.0.1:5000 (make mlflow)"


def _since(tags: dict[str, str], alias: str) -> tuple[str, str]:
    if alias == CHAMPION:
        moves = [(tags.get(k, ""), k) for k in ("promoted_at", "restored_at") if tags.get(k)]
        if moves:
            at, kind = max(moves)
            who = tags.get("promoted_by", "") if kind == "promoted_at" else "rollback"
            return at, f"{kind.split('_')[0]} by {who}: {tags.get('promotion_reason', '')}"[:120]
    if alias == AWAITING:
        return tags.get("registered_at", ""), _waiting(tags.get(REQUEST_TAG, ""))
    return tags.get("registered_at", ""), tags.get("gate_outcome", "")


def _waiting(raw: str) -> str:
    """What an approval request says (read only: the next approval attempt or gate run
    records an expiry)."""
    import json
    from datetime import UTC, datetime

    try:
        until = str(json.loads(raw).get("expires_at", ""))
        expired = datetime.now(UTC) >= datetime.fromisoformat(until)
    except (ValueError, TypeError, AttributeError):
        return "approval request unreadable"
    when = until.replace("T", " ").replace("+00:00", " UTC")
    if expired:
        return f"approval request expired {when}: not approved, nothing moved"
    return f"passed the gate, waits for approval until {when}: run approve_candidate"


def versions(uri: str, name: str = DEFAULT_MODEL) -> list[Version]:
    """The versions holding ``champion``, ``challenger``, ``next_champion`` and
    ``awaiting_approval`` (an alias nobody holds: left out);
    the test ROC-AUC is the one logged with the version's run."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return []  # no run has logged anything yet: opening it would create the store
    client = MlflowClient(tracking_uri=uri)
    found = []
    # next_champion: a promotion or rollback the gate requested, done once its bento is built.
    # awaiting_approval: a candidate the gate passed in approve mode, waiting for a person.
    for alias in (CHAMPION, CHALLENGER, NEXT_CHAMPION, AWAITING):
        try:
            version = client.get_model_version_by_alias(name, alias)
        except MlflowException:
            continue
        tags = dict(version.tags or {})
        metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
        since, note = _since(tags, alias)
        found.append(
            Version(
                alias=alias,
                version=str(version.version),
                family=tags.get("family", "?"),
                test_roc_auc=metrics.get("test_roc_auc"),
                since=since.replace("T", " ").replace("+00:00", " UTC"),
                note=note,
            )
        )
    return found
