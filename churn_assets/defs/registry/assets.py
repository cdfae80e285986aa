"""Registry: register each champion candidate, let the gate decide, keep rollback one step away.

Both assets here only *request* a move of `champion` (`lib.registry.aliases`): churn_bento
completes it once the new champion's bento is built and published, so the registry never
names a champion that is not served (see docs/operations.md, "Promotions and rollbacks").
"""

from typing import Literal

import dagster as dg

from churn_assets.defs.resources import Alerts, ChurnPlatform, MlflowTracking
from churn_assets.lib.registry.policy import CHECKS, REJECTIONS, GatePolicy, Mode

GROUP = "registry"
# Marks the gate's checks for `check_failure_alerts`: their failures are the gate's decision,
# already alerted once by promotion_decision as `gate_rejected` (one alert, not four).
ALERTED_BY_GATE = {"churn/alerted_as": "gate_rejected"}


class GateConfig(dg.Config, GatePolicy):
    """The promotion gate: mode, floors, regression margins (fairness limits are
    fairness_report's)."""

    mode: Mode = "enforce"
    reason: str = ""  # required for force; recorded in every mode
    actor: str = ""  # who decided; default: the OS user running the step


@dg.asset(
    group_name=GROUP,
    kinds={"mlflow"},
    code_version="3",
    # Every registered version carries the reference monitoring compares its batches with.
    deps=["drift_reference"],
    # Not blocking: a failed criterion is a decision (recorded, WARN), not a failed run.
    check_specs=[
        dg.AssetCheckSpec(
            name, asset="promotion_decision", description=text, metadata=ALERTED_BY_GATE
        )
        for name, text in CHECKS.items()
    ],
)
def promotion_decision(
    context: dg.AssetExecutionContext,
    config: GateConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    alerts: Alerts,
    champion_candidate,
    train_set,
    validation_set,
    test_set,
    evaluation_report,
    fairness_report,
    model_card,
):
    """Register the champion candidate (alias `challenger`), judge it on the numbers of
    evaluation_report and fairness_report against the current `champion` (compared on test
    customers the champion never trained or tuned on), and in `enforce` mode approve it only
    if every criterion passes (`dry_run`: decide, change nothing; `force`: override, reason
    required). An approval is a pending move (alias `next_champion`): churn_bento builds the
    bento and then moves `champion`. Every decision is recorded here, as tags on the model
    version, and on the candidate's MLflow run. A rejection is a decision, not a failure: the
    step succeeds with its failed criteria as WARN check results, one `gate_rejected` alert
    says why, and churn_bento skips (the champion, if any, keeps serving). A gate that cannot
    decide (a precondition is missing) fails the run."""
    import pandas as pd

    from churn_assets.defs.metadata import markdown
    from churn_assets.lib.evaluation.model_card import card_folder
    from churn_assets.lib.registry.promotion import GateError, resolve_actor, run_gate

    contract = platform.contract()
    try:
        outcome = run_gate(
            champion=champion_candidate,
            evaluation=evaluation_report,
            fairness=fairness_report,
            card=model_card,
            test_set=test_set,
            slices=list(contract.slices),
            policy=config,
            mode=config.mode,
            reason=config.reason,
            actor=resolve_actor(config.actor),
            name=platform.registered_model,
            tags={"dagster.run_id": context.run.run_id},
            card_folder=card_folder(platform.reports_dir(), champion_candidate.mlflow_run_id),
            id_column=contract.id_column,
            seen=[train_set, validation_set],
        )
    except GateError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    decision, name, version = outcome.decision, outcome.name, outcome.version
    context.log.info(
        f"Gate ({decision.mode}): {decision.outcome} — {name} v{version}; {decision.reason}"
    )
    failed = [c for c in decision.criteria if not c.passed]
    run_id = champion_candidate.mlflow_run_id
    record = mlflow.run_url(run_id) if run_id else None
    if decision.outcome in REJECTIONS:
        kept = f"v{outcome.champion_before}" if outcome.champion_before else "unset"
        alerts.send(
            "gate_rejected",
            "info" if decision.mode == "dry_run" else "warning",
            f"Gate {decision.outcome.replace('_', ' ')}: {name} v{version} (champion stays {kept})",
            "; ".join(f"{c.name}: {c.value:.4g} vs {c.threshold:.4g}" for c in failed)[:500],
            {"model": name, "version": version, "mode": decision.mode, "actor": outcome.actor},
            record,
        )
    waiting = outcome.approval
    if waiting is not None:
        superseded = f"; v{outcome.superseded} stops waiting" if outcome.superseded else ""
        alerts.send(
            "approval_requested",
            "warning",
            f"{name} v{version} passed the gate and waits for approval until {waiting.expires_at}",
            "Approve or reject it with the approve_candidate job (config: approver, comment)"
            f"{superseded}.",
            {"model": name, "version": version, "expires_at": waiting.expires_at},
            record,
        )
    yield dg.MaterializeResult(
        metadata={
            "outcome": decision.outcome,
            "mode": decision.mode,
            "reason": decision.reason,
            "actor": outcome.actor,
            "registered_model": name,
            "challenger_version": version,
            "champion_before": outcome.champion_before or "none",
            "champion_after": outcome.champion_after or "none",
            "pending_move": (
                f"promote v{outcome.move.version}: churn_bento builds its bento, then moves "
                "@champion"
                if outcome.move is not None
                else "none"
            ),
            "approval": (
                f"waiting until {waiting.expires_at}: run approve_candidate (approver, comment)"
                if waiting is not None
                else "not requested"
            ),
            "compared_rows": outcome.compared_rows,
            "excluded_rows": outcome.excluded_rows,
            "criteria": markdown(pd.DataFrame([c.__dict__ for c in decision.criteria]).round(4)),
            "failed_criteria": ", ".join(c.name for c in failed) or "none",
            # Where the full record is: promotion_decision.json and the model card.
            "decision_record": dg.MetadataValue.url(record) if record else "no MLflow run",
        }
    )
    for check_name, (passed, evidence, detail) in outcome.checks().items():
        yield dg.AssetCheckResult(
            check_name=check_name,
            asset_key="promotion_decision",
            passed=passed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={k: dg.MetadataValue.json(v) for k, v in evidence.items()},
            description=detail,
        )


class RollbackConfig(dg.Config):
    """Why the champion is being rolled back (required) and by whom."""

    reason: str
    actor: str = ""


@dg.asset(group_name=GROUP, kinds={"mlflow"}, code_version="2")
def champion_rollback(
    context: dg.AssetExecutionContext,
    config: RollbackConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
) -> dg.MaterializeResult:
    """Request the move of the `champion` alias back to the version the current champion
    replaced (alias `next_champion`); churn_bento, next in the `rollback_champion` job,
    rebuilds that version's bento and then moves `champion`, with who, when and why recorded
    on both versions. Nothing is deleted, so a failed rebuild leaves the current champion
    served and the rollback pending."""
    from churn_assets.lib.registry import aliases
    from churn_assets.lib.registry.promotion import resolve_actor

    if not config.reason.strip():
        raise dg.Failure("a rollback needs a `reason`", allow_retries=False)
    try:
        move = aliases.request_rollback(
            platform.registered_model, resolve_actor(config.actor), config.reason
        )
    except aliases.RegistryError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    context.log.info(
        f"Rollback of {move.name} requested: v{move.from_version} -> v{move.version} "
        "(churn_bento completes it)"
    )
    return dg.MaterializeResult(
        metadata={
            "registered_model": move.name,
            "from_version": move.from_version or "none",
            "to_version": move.version,
            "actor": move.actor,
            "reason": move.reason,
            "at": move.requested_at,
            "pending_move": f"rollback to v{move.version}: churn_bento rebuilds its bento, "
            "then moves @champion",
        }
    )


class ApprovalConfig(dg.Config):
    """A person's answer to the candidate waiting for approval (gate mode `approve`)."""

    approver: str  # recorded; must be in CHURN_APPROVERS when that is set
    comment: str  # why: recorded on the version and in the model card
    verdict: Literal["approve", "reject"] = "approve"
    version: str = ""  # the version meant (refused if another one waits); empty: the waiting one


@dg.asset(group_name=GROUP, kinds={"mlflow"}, code_version="1", deps=["promotion_decision"])
def candidate_approval(
    context: dg.AssetExecutionContext,
    config: ApprovalConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    alerts: Alerts,
) -> dg.MaterializeResult:
    """Approve or reject the candidate that passed the gate in `approve` mode and waits for a
    person (alias `awaiting_approval`). Approved: the move of `champion` is requested and
    churn_bento, next in the `approve_candidate` job, builds the bento and moves the alias.
    Rejected: nothing moves. Either way the answer, who gave it and why are recorded on the
    version (tags `approval_*`) and in the model card. Refused (the run fails, nothing
    recorded) without a name or comment, for an approver not in `CHURN_APPROVERS`, or when
    nothing waits (never requested, already answered, or expired: recorded as `expired`)."""
    from churn_assets.lib.evaluation.model_card import append_published, card_folder
    from churn_assets.lib.registry import approval

    name = platform.registered_model
    try:
        answer = approval.decide(
            name, config.verdict, config.approver, config.comment, version=config.version
        )
    except approval.ApprovalError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    request, outcome = answer.request, answer.outcome
    run_id = _version_run(name, request.version)
    if run_id:
        text = f"**{outcome}** by {answer.approver} at {answer.at}: {answer.comment}"
        append_published(run_id, card_folder(platform.reports_dir(), run_id), "Approval", text)
    context.log.info(f"{name} v{request.version} {outcome} by {answer.approver}")
    alerts.send(
        "approval_decided",
        "info",
        f"{name} v{request.version} {outcome} by {answer.approver}",
        answer.comment[:500],
        {"model": name, "version": request.version, "approver": answer.approver},
        mlflow.run_url(run_id) if run_id else None,
    )
    return dg.MaterializeResult(
        metadata={
            "outcome": outcome,
            "registered_model": name,
            "challenger_version": request.version,
            "approver": answer.approver,
            "comment": answer.comment,
            "requested_at": request.requested_at,
            "expires_at": request.expires_at,
            "pending_move": (
                f"promote v{answer.move.version}: churn_bento builds its bento, then moves "
                "@champion"
                if answer.move is not None
                else "none"
            ),
        }
    )


def _version_run(name: str, version: str) -> str | None:
    from mlflow import MlflowClient

    return MlflowClient().get_model_version(name, version).run_id or None
