"""Serving: the champion packaged as a BentoML bento that `bentoml serve` runs."""

import dagster as dg

from churn_assets.defs.resources import ChurnPlatform, MlflowTracking
from churn_assets.lib import settings
from churn_assets.lib.serving.policy import BentoPolicy

GROUP = "serving"


class BentoConfig(dg.Config, BentoPolicy):
    """What goes into the bento besides the champion, and how traffic is split."""


@dg.asset(
    group_name=GROUP,
    kinds={"bentoml"},
    code_version="1",
    deps=["promotion_decision", "champion_rollback"],
)
def churn_bento(
    context: dg.AssetExecutionContext,
    config: BentoConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,
    train_set,
) -> dg.MaterializeResult:
    """The model the registry calls `champion` (plus `challenger` in shadow), imported into the
    BentoML model store under CHURN_HOME, built into the bento `churn_service:v<version>`
    that `make serve` runs, and exported to <CHURN_STORAGE_URI>/bentos/ for serving hosts
    (`python -m churn_assets.lib.serving.bento_store import`). Follows the champion: rebuilt
    after a promotion or a rollback."""
    from churn_assets.lib.serving import packaging

    try:
        meta, build, published = packaging.package_champion(
            platform.home_path,
            platform.registered_model,
            platform.contract(),
            train_set,
            config,
            log=context.log.info,
            publish_to=settings.storage_location("bentos"),
        )
    except packaging.PackagingError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    bentoml_home = settings.bentoml_home(platform.home_path)
    context.log.info(f"Built {build.bento_tag} with model {build.model_tag}")
    return dg.MaterializeResult(
        metadata={
            "bento_tag": build.bento_tag,
            "model_tag": build.model_tag,
            "registered_model": meta.model_name,
            "champion_version": build.champion_version,
            "shadow_version": build.shadow_version or "none",
            "family": meta.champion.family,
            "threshold": meta.champion.threshold,
            "bento_size_mb": round(build.bento_size_bytes / 1e6, 2),
            "model_size_mb": round(build.model_size_bytes / 1e6, 2),
            "bento_path": dg.MetadataValue.path(build.bento_path),
            # The archive a serving host imports: no disk of this step's machine needed.
            "bento_archive": dg.MetadataValue.path(str(published)),
            "serve": dg.MetadataValue.md(
                f"```\nBENTOML_HOME={bentoml_home} bentoml serve {build.bento_tag}\n```\n"
                "or `make serve`"
            ),
        },
        data_version=dg.DataVersion(build.bento_tag),
    )
