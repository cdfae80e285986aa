"""Where a team-stack run left its results, read back from the stores themselves."""

from __future__ import annotations

from typing import Any

from churn_assets.team.services import say
from churn_assets.team.stack import (
    TeamStack,
    _boto_kwargs,  # private: the stack's S3 settings, same package
)

REGISTERED_MODEL = "churn-model"


def bucket_keys(stack: TeamStack, prefix: str) -> list[str]:
    """Every object key under ``prefix`` in the stack's bucket."""
    import boto3

    client = boto3.client("s3", **_boto_kwargs(stack.s3_env()))
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(
        Bucket=stack.bucket, Prefix=prefix
    ):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def summary(stack: TeamStack, instance: Any, run_id: str) -> dict[str, Any]:
    """The champion in the registry, the run's footprint in Postgres, the bucket's contents."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=stack.mlflow_url)
    champion = client.get_model_version_by_alias(REGISTERED_MODEL, "champion")
    pg = stack.postgres()
    runs, events = pg.query(
        "dagster",
        "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM event_logs WHERE run_id = %s)",
        (run_id,),
    )[0]
    tables = bucket_keys(stack, "storage/")
    return {
        "champion": f"{REGISTERED_MODEL} v{champion.version} ({champion.tags.get('family', '?')})",
        "champion_source": champion.source,
        "postgres_runs": runs,
        "postgres_events_of_run": events,
        "bucket_tables": sum(1 for key in tables if key.endswith(".parquet")),
        "bucket_bentos": sorted(f"s3://{stack.bucket}/{k}" for k in tables if k.endswith(".bento")),
        "mlflow_artifacts": len(bucket_keys(stack, "mlflow/")),
    }


def print_summary(result: dict[str, Any]) -> None:
    say(f"  Champion (MLflow server registry)   {result['champion']}")
    say(
        f"  Runs in Postgres                    {result['postgres_runs']} "
        f"({result['postgres_events_of_run']} events of this run)"
    )
    say(f"  Tables in the bucket                {result['bucket_tables']} Parquet objects")
    say(f"  MLflow artifacts in the bucket      {result['mlflow_artifacts']} objects")
    for key in result["bucket_bentos"]:
        say(f"  Bento in the bucket                 {key}")
