"""One promotion decision: register the candidate, judge it against the champion, and
request the alias move.

The gate's criteria (``lib.registry.gate``) are measured on the reports the evaluation steps
stored (``evaluation_report``, ``fairness_report``, ``model_card``); this module adds what
needs the registry: the monitoring-reference precondition, the current champion's scores on
the test rows it never saw, registration, the requested move and the record of the decision
(tags on the version, ``promotion_decision.json``, the final model card and the pseudonyms of
the customers the candidate trained and tuned on, ``seen_customers.json``, on its run).

``champion`` does not move here: an approval is recorded as a pending move
(``aliases.request_promotion``) that ``churn_bento`` completes once the bento of the new
champion is built and published, so the registry never names a champion nobody serves.

Which test rows the comparison with the champion uses: the split assigns customers by a
keyed hash of their id, so a customer stays in its split across retrainings; on top of that
the champion's own ``seen_customers.json`` (when it has one) removes any test customer it
trained or tuned on, e.g. after the split's seed or sizes changed.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from churn_assets.lib.registry import aliases, approval, gate

if TYPE_CHECKING:
    import pandas as pd

    from churn_assets.lib.evaluation.fairness import FairnessResult
    from churn_assets.lib.evaluation.report import EvaluationReport
    from churn_assets.lib.registry.policy import GatePolicy, Mode
    from churn_assets.lib.training.champion import ChampionCandidate


class GateError(RuntimeError):
    """The gate cannot decide (bad request or missing precondition); nothing was registered."""


def resolve_actor(configured: str) -> str:
    """Who decided: the configured name, else the OS user running the step."""
    if configured:
        return configured
    try:
        return getpass.getuser()
    except OSError:  # no user name in some containers
        return "dagster"


@dataclass
class GateRun:
    """A decision with everything the asset shows about it."""

    decision: gate.Decision
    groups: dict[str, list[gate.Criterion]]  # check name -> its criteria
    name: str
    version: str
    actor: str
    champion_before: str | None
    move: aliases.PendingMove | None  # the requested move (churn_bento completes it)
    approval: approval.ApprovalRequest | None = None  # approve mode: waiting for a person
    superseded: str | None = None  # the earlier waiting candidate this one replaced
    compared_rows: int = 0  # test rows the comparison with the champion used
    excluded_rows: int = 0  # test rows left out: the champion trained or tuned on them

    @property
    def champion_after(self) -> str | None:
        """The version holding ``champion`` once the decision is applied (by churn_bento)."""
        return self.move.version if self.move else self.champion_before

    def checks(self) -> dict[str, tuple[bool, dict[str, dict], str]]:
        """Per asset check (``policy.CHECKS``): whether it passed, each criterion's evidence
        (value, threshold, passed) and a description naming the failed criteria."""
        out = {}
        for check_name, group in self.groups.items():
            failed = [c.name for c in group if not c.passed]
            evidence = {
                c.name: {"value": round(c.value, 4), "threshold": c.threshold, "passed": c.passed}
                for c in group
            }
            detail = "; ".join(c.detail for c in group) + (f" — failed: {failed}" if failed else "")
            out[check_name] = (not failed, evidence, detail)
        return out


def _preconditions(
    champion: ChampionCandidate,
    evaluation: EvaluationReport,
    fairness: FairnessResult,
    mode: Mode,
    reason: str,
) -> None:
    import mlflow

    from churn_assets.lib.evaluation.report import stale_reports
    from churn_assets.lib.monitoring.reference import has_reference

    if mode == "force" and not reason.strip():
        raise GateError("mode 'force' overrides the gate and requires a `reason` in the config")
    if not champion.mlflow_model_uri:
        raise GateError("the champion candidate was not logged to MLflow; cannot register it")
    source_run = mlflow.models.get_model_info(champion.mlflow_model_uri).run_id
    if not source_run or not has_reference(source_run):
        raise GateError(
            "the candidate's MLflow run has no monitoring reference, so it could not be "
            "monitored once promoted: materialize drift_reference first (churn_pipeline does)"
        )
    stale = stale_reports(
        champion.mlflow_model_uri,
        {"evaluation_report": evaluation, "fairness_report": fairness},
    )
    if stale:
        raise GateError(
            f"{' and '.join(stale)} measured another model than this candidate "
            f"({champion.mlflow_model_uri}): materialize them again"
        )


SEEN_FILE = "seen_customers.json"


def _champion_scores(name: str, test_set: pd.DataFrame, columns: list[str]) -> np.ndarray:
    import mlflow

    model = mlflow.sklearn.load_model(f"models:/{name}@{aliases.CHAMPION}")
    return np.asarray(model.predict_proba(test_set[columns]))[:, 1]


def seen_pseudonyms(frames: list[pd.DataFrame], id_column: str) -> list[str]:
    """The keyed pseudonyms (``lib.privacy.pseudonym``) of the customers in ``frames``,
    sorted: what a model's run records of the rows it trained and tuned on (no raw ids)."""
    from churn_assets.lib.privacy import pseudonym

    ids = {str(v) for frame in frames if id_column in frame for v in frame[id_column].unique()}
    return sorted(p for p in (pseudonym(v) for v in ids) if p)


def _champion_seen(current: Any) -> set[str] | None:
    """The pseudonyms the champion's run recorded, or None when it recorded none."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    if current is None or not current.run_id:
        return None
    try:
        path = MlflowClient().download_artifacts(current.run_id, SEEN_FILE)
        return set(json.loads(Path(path).read_text()))
    except (MlflowException, OSError, ValueError):
        return None


def unseen_rows(
    test_set: pd.DataFrame, id_column: str, seen: set[str] | None
) -> tuple[np.ndarray, str]:
    """The mask of test rows whose customer is not in ``seen``, and a note saying what was
    left out (or that the champion recorded nothing, so the stable split is relied on)."""
    from churn_assets.lib.privacy import pseudonym

    if seen is None or id_column not in test_set:
        return np.ones(len(test_set), bool), (
            "; the champion recorded no seen customers (registered before they were "
            "recorded): every test row is used, relying on the stable split"
        )
    ids = test_set[id_column].astype(str)
    mask = ~ids.map(pseudonym).isin(seen).to_numpy()
    left = int((~mask).sum())
    return mask, f"; {left} test row(s) left out: the champion trained or tuned on them"


def run_gate(
    *,
    champion: ChampionCandidate,
    evaluation: EvaluationReport,
    fairness: FairnessResult,
    card: str,
    test_set: pd.DataFrame,
    slices: list[str],
    policy: GatePolicy,
    mode: Mode,
    reason: str,
    actor: str,
    name: str,
    tags: dict[str, str],
    card_folder: Path,
    id_column: str = "",
    seen: list[pd.DataFrame] | None = None,
) -> GateRun:
    """Register the candidate as ``challenger``, judge it, and in ``enforce`` mode request
    its promotion when every criterion passes (``approve``: then request a person's approval
    instead, ``lib.registry.approval``; ``dry_run``: decide, change nothing; ``force``:
    promote regardless, reason required). ``tags`` go on the new version.

    Args:
        id_column: the contract's customer id column.
        seen: the frames the candidate trained and tuned on (train and validation sets);
            their customers' pseudonyms are recorded on its run for later gates.

    Raises:
        GateError: a precondition fails (checked before anything is registered).
    """
    from mlflow import MlflowClient

    from churn_assets.lib.evaluation.model_card import publish_card, with_decision

    _preconditions(champion, evaluation, fairness, mode, reason)
    if len(test_set) != len(evaluation.scores):
        raise GateError("evaluation_report scored other test rows: materialize it again")
    current = aliases.version_by_alias(name, aliases.CHAMPION)
    champion_scores = (
        _champion_scores(name, test_set, champion.input_columns) if current is not None else None
    )
    rows, note = (None, "")
    if current is not None:
        rows, note = unseen_rows(test_set, id_column, _champion_seen(current))
    client = MlflowClient()
    if champion.mlflow_run_id and seen:
        client.log_dict(champion.mlflow_run_id, seen_pseudonyms(seen, id_column), SEEN_FILE)
    version = aliases.register_challenger(
        champion.mlflow_model_uri or "",
        name,
        {
            "family": champion.family,
            "threshold": str(champion.threshold),
            "calibration": champion.calibration,
            **tags,
        },
    )
    groups = gate.criteria(
        policy, evaluation, fairness, card, test_set, slices, champion_scores, rows, note
    )
    decision = gate.decide([c for group in groups.values() for c in group], mode, reason)
    # The verdict before the request: a crash in between leaves a judged challenger and no
    # pending move (the next run decides again); traffic eligibility reads these tags.
    for key, value in {
        "gate_outcome": decision.outcome,
        "gate_mode": decision.mode,
        "gate_reason": decision.reason,
        "gate_actor": actor,
        "gate_all_passed": str(decision.all_passed).lower(),
    }.items():
        client.set_model_version_tag(name, version, key, value)
    if champion.mlflow_run_id:
        final = with_decision(
            card,
            f"**{decision.outcome}** ({decision.mode}) by {actor}: {decision.reason}. "
            f"Registered as `{name}` version {version}.",
        )
        client.log_dict(champion.mlflow_run_id, decision.as_dict(), "promotion_decision.json")
        publish_card(final, card_folder, champion.mlflow_run_id)
        client.set_model_version_tag(name, version, "model_card", "model_card/model_card.md")
    move, waiting, superseded = None, None, None
    if decision.promote:
        move = aliases.request_promotion(name, version, actor, decision.reason, decision.as_dict())
    elif decision.outcome == approval.PENDING_OUTCOME:
        waiting, superseded = approval.request_approval(
            name, version, actor, policy.approval_ttl_hours, decision.as_dict()
        )
    return GateRun(
        decision=decision,
        groups=groups,
        name=name,
        version=version,
        actor=actor,
        champion_before=str(current.version) if current is not None else None,
        move=move,
        approval=waiting,
        superseded=superseded,
        compared_rows=int(rows.sum()) if rows is not None else len(test_set),
        excluded_rows=int((~rows).sum()) if rows is not None else 0,
    )
