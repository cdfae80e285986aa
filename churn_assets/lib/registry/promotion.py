"""One promotion: register the candidate, judge it against the champion, move the alias.

The gate's criteria (``lib.registry.gate``) are measured on the reports the evaluation steps
stored (``evaluation_report``, ``fairness_report``, ``model_card``); this module adds what
needs the registry: the monitoring-reference precondition, the current champion's scores on
the same test rows, registration, the alias move and the record of the decision (tags on the
version, ``promotion_decision.json`` and the final model card on the candidate's run).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from churn_assets.lib.registry import aliases, gate

if TYPE_CHECKING:
    from pathlib import Path

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
    move: aliases.AliasMove | None

    @property
    def champion_after(self) -> str | None:
        """The version holding ``champion`` once the decision is applied."""
        return self.move.to_version if self.move else self.champion_before

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


def _champion_scores(name: str, test_set: pd.DataFrame, columns: list[str]) -> np.ndarray:
    import mlflow

    model = mlflow.sklearn.load_model(f"models:/{name}@{aliases.CHAMPION}")
    return np.asarray(model.predict_proba(test_set[columns]))[:, 1]


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
) -> GateRun:
    """Register the candidate as ``challenger``, judge it, and in ``enforce`` mode move
    ``champion`` when every criterion passes (``dry_run``: decide, change nothing;
    ``force``: promote regardless, reason required). ``tags`` go on the new version.

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
    groups = gate.criteria(policy, evaluation, fairness, card, test_set, slices, champion_scores)
    decision = gate.decide([c for group in groups.values() for c in group], mode, reason)
    move = None
    if decision.promote:
        move = aliases.promote(name, version, actor, decision.reason, decision.as_dict())
    client = MlflowClient()
    for key, value in {
        "gate_outcome": decision.outcome,
        "gate_mode": decision.mode,
        "gate_reason": decision.reason,
        "gate_actor": actor,
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
    return GateRun(
        decision=decision,
        groups=groups,
        name=name,
        version=version,
        actor=actor,
        champion_before=str(current.version) if current is not None else None,
        move=move,
    )
