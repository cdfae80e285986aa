"""Serving: the champion packaged as a BentoML bento that `bentoml serve` runs.

`churn_bento` is also where `@champion` moves: the gate (`promotion_decision`) and the
rollback (`champion_rollback`) only request a move; this step builds and publishes the bento
of the champion to be and then moves the alias, its last write (`lib.serving.packaging.deploy`).
A failed or killed build so leaves the registry and every served copy on the old champion,
with the move pending for the next try, instead of a registry naming a model nobody serves.
"""

import dagster as dg

from churn_assets.defs.resources import Alerts, ChurnPlatform, MlflowTracking
from churn_assets.lib import settings
from churn_assets.lib.serving.policy import BentoPolicy

GROUP = "serving"
CONSISTENT = "bento_matches_registry"


class BentoConfig(dg.Config, BentoPolicy):
    """What goes into the bento besides the champion, and how traffic is split."""


@dg.asset(
    group_name=GROUP,
    kinds={"bentoml"},
    code_version="2",
    deps=["promotion_decision", "champion_rollback", "candidate_approval"],
    # Skipped (no materialization, downstream not run) when this run's gate rejected.
    output_required=False,
    check_specs=[
        dg.AssetCheckSpec(
            CONSISTENT,
            asset="churn_bento",
            description="The registry's @champion, the published bento (latest.json) and the "
            "builder's churn_service:latest name the same version, with no move pending.",
        )
    ],
)
def churn_bento(
    context: dg.AssetExecutionContext,
    config: BentoConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    alerts: Alerts,
    train_set,
):
    """The champion to be (a promotion the gate approved or a requested rollback, else the
    current `champion`), plus `challenger` in shadow when the gate passed it, imported into
    the BentoML model store under CHURN_HOME, built into the bento `churn_service:v<version>`
    that `make serve` runs and exported to <CHURN_STORAGE_URI>/bentos/ for serving hosts
    (`python -m churn_assets.lib.serving.bento_store import`); then `champion` moves to it.
    Nothing is deleted: a rebuild gets a new version (`-r2`) and becomes `:latest`.
    Skipped, not failed, when the gate of the same run rejected its challenger and no move is
    pending: there is nothing new to serve, and the champion (if any) keeps serving."""
    from churn_assets.lib.registry import aliases, consistency
    from churn_assets.lib.serving import packaging

    folder = settings.storage_location("bentos")
    bentoml_home = settings.bentoml_home(platform.home_path)
    rejected = _rejected_in_run(context)
    if rejected and aliases.pending_move(platform.registered_model) is None:
        state = consistency.check(platform.registered_model, folder, bentoml_home)
        served = f"v{state.registry} keeps serving" if state.registry else "nothing is served yet"
        context.log.info(f"Skipped: {rejected}; {served}, nothing to build.")
        yield dg.AssetCheckResult(
            check_name=CONSISTENT,
            passed=state.consistent,
            metadata={"skipped": rejected, "registry_champion": state.registry or "none"},
            description=state.summary() if state.registry or state.problems else served,
        )
        return
    try:
        done = packaging.deploy(
            platform.home_path,
            platform.registered_model,
            platform.contract(),
            train_set,
            config,
            log=context.log.info,
            publish_to=folder,
        )
    except packaging.PackagingError as exc:
        raise dg.Failure(
            f"{exc}\nThe registry is unchanged (a pending promotion or rollback stays pending): "
            "materialize churn_bento again once the cause is mended.",
            allow_retries=False,
        ) from exc
    meta, build = done.packaged.meta, done.packaged.build
    context.log.info(f"Built {build.bento_tag} with model {build.model_tag}")
    if done.move is not None:
        rollback = done.pending_kind == "rollback"
        alerts.send(
            "rollback" if rollback else "promotion",
            "warning" if rollback else "info",
            f"{done.move.name} {'rolled back to' if rollback else 'promoted:'} "
            f"v{done.move.to_version} is the champion, served as {build.bento_tag}",
            done.move.reason,
            {"previous": done.move.from_version or "none", "actor": done.move.actor},
        )
    state = consistency.check(platform.registered_model, folder, bentoml_home)
    moved = (
        f"{done.pending_kind}: "
        f"{f'v{done.move.from_version}' if done.move.from_version else 'none'} "
        f"-> v{done.move.to_version}"
        if done.move is not None
        else "none (rebuilt the current champion)"
    )
    yield dg.MaterializeResult(
        metadata={
            "bento_tag": build.bento_tag,
            "model_tag": build.model_tag,
            "registered_model": meta.model_name,
            "champion_version": build.champion_version,
            "champion_move": moved,
            "shadow_version": build.shadow_version or "none",
            "challenger": done.packaged.shadow_note,
            "family": meta.champion.family,
            "threshold": meta.champion.threshold,
            "bento_size_mb": round(build.bento_size_bytes / 1e6, 2),
            "model_size_mb": round(build.model_size_bytes / 1e6, 2),
            "bento_path": dg.MetadataValue.path(build.bento_path),
            # The archive a serving host imports: no disk of this step's machine needed.
            "bento_archive": dg.MetadataValue.path(str(done.packaged.uri)),
            "serve": dg.MetadataValue.md(
                f"```\nBENTOML_HOME={bentoml_home} bentoml serve {build.bento_tag}\n```\n"
                "or `make serve`"
            ),
        },
        data_version=dg.DataVersion(build.bento_tag),
        check_results=[
            dg.AssetCheckResult(
                check_name=CONSISTENT,
                passed=state.consistent and state.registry == build.champion_version,
                metadata={
                    "registry_champion": state.registry or "none",
                    "published": state.published_tag or "none",
                    "builder_latest": state.local_tag or "none",
                },
                description=state.summary(),
            )
        ],
    )


def _rejected_in_run(context: dg.AssetExecutionContext) -> str | None:
    """Why there is nothing to build when this run's decision moved nothing (its recorded
    outcome, the decision as data): promotion_decision rejected, or its candidate waits for
    approval; candidate_approval rejected. Else None."""
    from churn_assets.lib.registry.policy import NOTHING_TO_BUILD

    for key, who in (("promotion_decision", "the gate"), ("candidate_approval", "the approver")):
        event = context.instance.get_latest_materialization_event(dg.AssetKey(key))
        if event is None or event.run_id != context.run_id or event.asset_materialization is None:
            continue
        meta = event.asset_materialization.metadata
        outcome = getattr(meta.get("outcome"), "value", None)
        if outcome not in NOTHING_TO_BUILD:
            return None
        version = getattr(meta.get("challenger_version"), "value", "?")
        why = getattr(meta.get("failed_criteria"), "value", "") or getattr(
            meta.get("comment"), "value", ""
        )
        if outcome == "pending_approval":
            return f"v{version} waits for approval ({getattr(meta.get('approval'), 'value', '')})"
        return f"{who} {outcome.replace('_', ' ')} v{version} ({why})"
    return None
