"""On-demand batch scoring: the `score_customers` job scores any table with the champion.

The table is a data URI as `CHURN_DATA_URI` takes it (a file, a folder, an S3 prefix or a
database table or query); the scores go to a sink (Parquet under a folder or S3 prefix, or a
database table), one run at a time and idempotent per run (`lib.scoring.sinks`). Chunked:
memory stays flat however many customers there are (`lib.scoring.batch`).
"""

import dagster as dg
from dagster_aws.s3 import S3Resource

from churn_assets.defs.resources import ChurnPlatform, MlflowTracking

GROUP = "scoring"
REJECTED_SHARE = "scoring_rejected_share_within_limit"


class ScoreConfig(dg.Config):
    """What to score, where the scores go, how much at a time."""

    source_uri: str = (
        ""  # a data URI (file, folder, s3://, database ?table=); empty: CHURN_DATA_URI
    )
    sink_uri: str = ""  # a folder, s3:// prefix or database ?table=; empty: <storage>/scores
    chunk_rows: int = 50_000  # rows read, validated, scored and written at a time
    top_reasons: int = 0  # SHAP reasons per customer (costs about 1 ms per row and reason set)


@dg.asset(
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    code_version="1",
    check_specs=[
        dg.AssetCheckSpec(
            REJECTED_SHARE,
            asset="customer_scores",
            description="The share of rows that broke the contract (and were not scored) is "
            "within the contract's max_rejected_share.",
        )
    ],
)
def customer_scores(
    context: dg.AssetExecutionContext,
    config: ScoreConfig,
    platform: ChurnPlatform,
    mlflow: MlflowTracking,  # points MLflow at the registry for this step
    s3: S3Resource,
):
    """Every customer of a table scored by the current champion (the service's compiled
    scorer): probability, label at the decision threshold, risk tier, model version and,
    with `top_reasons`, the fields behind each score, written to the sink with the run's id.
    Rows that break the contract are written to the sink's `_rejected` companion with their
    row ids and reasons, and counted here."""
    from churn_assets.defs.metadata import markdown
    from churn_assets.lib import settings
    from churn_assets.lib.ingestion.errors import SourceError
    from churn_assets.lib.ingestion.uri import parse_data_uri
    from churn_assets.lib.ingestion.validation import MissingColumnsError
    from churn_assets.lib.monitoring.champion import load_champion
    from churn_assets.lib.scoring.batch import score_source, source_chunks
    from churn_assets.lib.scoring.sinks import REJECTED_SUFFIX, check_apart, open_sink

    contract, run_id = platform.contract(), context.run.run_id
    try:
        uri = parse_data_uri(config.source_uri or platform.data_uri)
        sink_uri = config.sink_uri or str(settings.storage_location("scores"))
        sink = open_sink(sink_uri, run_id)
        rejected_sink = open_sink(sink_uri, run_id, REJECTED_SUFFIX)
        check_apart(uri, sink)
        champion = load_champion(platform.registered_model, contract)
    except (SourceError, LookupError) as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    explainer = None
    if config.top_reasons > 0:
        from churn_assets.lib.monitoring.reference import load_reference
        from churn_assets.lib.monitoring.scoring import reason_explainer

        try:
            explainer = reason_explainer(champion, load_reference(champion.slot), contract)
        except LookupError as exc:
            raise dg.Failure(f"{exc}; score with top_reasons: 0", allow_retries=False) from exc
    context.log.info(
        f"Scoring {uri.display} with {platform.registered_model} v{champion.version} into "
        f"{sink.description}, {config.chunk_rows:,} rows at a time"
    )
    try:
        done = score_source(
            source_chunks(uri, config.chunk_rows, s3.get_client),
            contract,
            champion,
            sink,
            rejected_sink,
            run_id=run_id,
            explainer=explainer,
            top_k=config.top_reasons,
            log=context.log.info,
        )
    except MissingColumnsError as exc:
        raise dg.Failure(str(exc), allow_retries=False) from exc
    except SourceError as exc:  # SinkError too: a store away is retried by the run's policy
        raise dg.Failure(str(exc)) from exc
    finally:
        for each in (sink, rejected_sink):
            getattr(each, "close", lambda: None)()
    if done.rows == 0:
        raise dg.Failure(f"{uri.display} holds no rows: nothing to score", allow_retries=False)
    share = done.rejected / done.rows
    reasons = [{"problem": k, "rows": v} for k, v in done.reasons.most_common(10)]
    yield dg.MaterializeResult(
        metadata={
            "source": uri.display,
            "sink": sink.description,
            "rejected_sink": rejected_sink.description if done.rejected else "none",
            "run_id": run_id,
            "model_version": champion.version,
            "threshold": champion.slot.threshold,
            "rows": done.rows,
            "scored": done.scored,
            "rejected": done.rejected,
            "replaced_rows": done.replaced,
            "chunks": done.chunks,
            "seconds": round(done.seconds, 2),
            "rows_per_second": round(done.rows_per_second),
            "predicted_churn_rate": round(done.churners / done.scored, 4) if done.scored else 0.0,
            **{f"tier_{tier}": int(n) for tier, n in sorted(done.tiers.items())},
            "reasons": markdown(__import__("pandas").DataFrame(reasons)) if reasons else "none",
        }
    )
    yield dg.AssetCheckResult(
        check_name=REJECTED_SHARE,
        passed=share <= contract.max_rejected_share,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"value": round(share, 5), "threshold": contract.max_rejected_share},
    )


score_customers = dg.define_asset_job(
    "score_customers",
    selection=dg.AssetSelection.assets("customer_scores"),
    description="Score a table (config: source_uri, sink_uri) with the current champion, in "
    "chunks, into Parquet or a database table; idempotent per run.",
)
