"""Print deploy/helm/values.yaml with one environment's image, bucket and Postgres host filled in.

    python deploy/helm/render_values.py --image-tag 3f2c1ab --bucket acme-churn \\
        --postgres-host db.internal > /tmp/values.yaml
    helm upgrade --install dagster dagster/dagster --version 1.13.27 -f /tmp/values.yaml

Why a script and not ``helm --set``: the code location is an item of a list
(``dagster-user-deployments.deployments``), and Helm replaces a list whole when ``--set``
addresses one of its items, dropping every field it does not repeat. Editing the loaded values
keeps the committed file the single source of everything else. Needs PyYAML only.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

VALUES = Path(__file__).resolve().parent / "values.yaml"
DEPLOYMENT = "churn-assets"


def code_location(values: dict[str, Any]) -> dict[str, Any]:
    """The code location's entry of ``dagster-user-deployments.deployments``."""
    for deployment in values["dagster-user-deployments"]["deployments"]:
        if deployment["name"] == DEPLOYMENT:
            return deployment
    raise KeyError(f"no user deployment named {DEPLOYMENT!r} in {VALUES}")


def _set_env(deployment: dict[str, Any], name: str, value: str) -> None:
    for item in deployment["env"]:
        if item["name"] == name:
            item["value"] = value
            return
    deployment["env"].append({"name": name, "value": value})


def render(
    values: dict[str, Any],
    *,
    image_repository: str | None = None,
    image_tag: str | None = None,
    bucket: str | None = None,
    postgres_host: str | None = None,
    mlflow_uri: str | None = None,
) -> dict[str, Any]:
    """``values`` with the given fields replaced (in place; also returned)."""
    deployment = code_location(values)
    if image_repository:
        deployment["image"]["repository"] = image_repository
    if image_tag:
        deployment["image"]["tag"] = image_tag
    if bucket:
        _set_env(deployment, "CHURN_STORAGE_URI", f"s3://{bucket}/storage")
        values["computeLogManager"]["config"]["s3ComputeLogManager"]["bucket"] = bucket
    if postgres_host:
        values["postgresql"]["postgresqlHost"] = postgres_host
    if mlflow_uri:
        _set_env(deployment, "MLFLOW_TRACKING_URI", mlflow_uri)
    return values


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--values", type=Path, default=VALUES)
    parser.add_argument("--image-repository", help="e.g. ghcr.io/acme/churn-code-location")
    parser.add_argument("--image-tag", help="a unique tag (the git sha)")
    parser.add_argument("--bucket", help="the bucket of CHURN_STORAGE_URI and of the step logs")
    parser.add_argument("--postgres-host", help="the Dagster instance's Postgres host")
    parser.add_argument("--mlflow-uri", help="MLFLOW_TRACKING_URI (default http://mlflow:5000)")
    args = parser.parse_args(argv)
    values = yaml.safe_load(args.values.read_text())
    render(
        values,
        image_repository=args.image_repository,
        image_tag=args.image_tag,
        bucket=args.bucket,
        postgres_host=args.postgres_host,
        mlflow_uri=args.mlflow_uri,
    )
    sys.stdout.write(yaml.safe_dump(values, sort_keys=False))


if __name__ == "__main__":
    main()
