"""From the MLflow registry to a BentoML bento: the champion (and its challenger in shadow).

Two steps, because BentoML reads ``BENTOML_HOME`` once per process:

1. :func:`export_bundle` (in the caller's process): resolve ``@champion`` (and ``@challenger``
   when it is a different version) in the MLflow registry, load the registered sklearn
   models, and write a bundle folder (:mod:`churn_assets.lib.serving.bundle`).
2. :func:`build_bento` runs ``python -m churn_assets.lib.serving.packaging`` in a child process with
   ``BENTOML_HOME=$CHURN_HOME/bentoml``: it saves the bundle as the BentoML model
   ``churn_model:<version>`` and builds the bento ``churn_service:<version>`` from
   ``bentos/churn_service/bentofile.yaml`` with requirements pinned to the running
   environment. It prints one JSON line with the tags, sizes and paths.

Versions are ``v<champion>`` (``v3``) or ``v<champion>-shadow-v<challenger>``. Rebuilding an
existing version replaces it, so ``churn_service:latest`` always follows the champion,
also after a rollback to an older version.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from churn_assets.lib import settings
from churn_assets.lib.contract import DataContract
from churn_assets.lib.evaluation.explain import DEFAULT_BACKGROUND_ROWS
from churn_assets.lib.serving.bundle import ServingMeta, example_record, write_bundle

REPO_ROOT = Path(__file__).resolve().parents[3]
BENTOFILE = REPO_ROOT / "bentos" / "churn_service" / "bentofile.yaml"
MODEL_NAME = "churn_model"
SERVICE_NAME = "churn_service"


class PackagingError(RuntimeError):
    """The bento cannot be built (no champion, a failed build)."""


def export_bundle(
    folder: str | os.PathLike[str],
    model_name: str,
    contract: DataContract,
    background: pd.DataFrame,
    shadow: bool = True,
    medium_fraction: float = settings.MEDIUM_RISK_FRACTION,
    shadow_share: float = 1.0,
    ab_share: float = 0.0,
) -> ServingMeta:
    """Write the serving bundle of the current ``@champion`` into ``folder``.

    Args:
        background: training rows (contract fields); a sample becomes the SHAP reference
            and the first row the OpenAPI example.
        shadow: package ``@challenger`` in shadow when it is another version.
        medium_fraction: the ``medium`` risk tier starts at this fraction of the threshold.

    Raises:
        PackagingError: when the registry has no champion.
    """
    import mlflow

    from churn_assets.lib.registry import aliases as registry

    try:
        champion_slot = registry.serving_slot(model_name, registry.CHAMPION)
        challenger = registry.serving_slot(model_name, registry.CHALLENGER) if shadow else None
    except registry.RegistryError as exc:
        raise PackagingError(str(exc)) from exc
    if champion_slot is None:
        raise PackagingError(
            f"registered model {model_name!r} has no @champion: nothing to serve. Materialize "
            "promotion_decision (the gate promotes the first model that passes)."
        )
    shadow_slot = None
    if challenger is not None and challenger.version != champion_slot.version:
        shadow_slot = challenger
    sample = background.sample(n=min(DEFAULT_BACKGROUND_ROWS, len(background)), random_state=0)
    columns = [c for c in [contract.id_column, *contract.feature_columns] if c in sample]
    meta = ServingMeta(
        model_name=model_name,
        champion=champion_slot,
        shadow=shadow_slot,
        contract_name=contract.name,
        medium_threshold=champion_slot.threshold * medium_fraction,
        shadow_share=shadow_share,
        ab_share=ab_share,
        example=example_record(sample, contract),
        packaged_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_bundle(
        folder,
        meta,
        contract.path,
        champion=mlflow.sklearn.load_model(champion_slot.model_uri),
        shadow=mlflow.sklearn.load_model(shadow_slot.model_uri) if shadow_slot else None,
        background=sample[columns].reset_index(drop=True),
    )
    return meta


@dataclass(frozen=True)
class BentoBuild:
    """What :func:`build_bento` produced."""

    model_tag: str
    bento_tag: str
    bento_path: str
    model_size_bytes: int
    bento_size_bytes: int
    champion_version: str
    shadow_version: str | None


def bentoml_env(home: Path) -> dict[str, str]:
    """The environment a BentoML command needs for this platform home."""
    from churn_assets.lib.settings import bentoml_home

    env = dict(os.environ)
    env["BENTOML_HOME"] = str(bentoml_home(home))
    env["BENTOML_DO_NOT_TRACK"] = "True"
    env["CHURN_HOME"] = str(home)
    return env


def build_bento(bundle: str | os.PathLike[str], home: Path, timeout: float = 600) -> BentoBuild:
    """Save ``bundle`` as a BentoML model and build the bento, in a child process.

    Raises:
        PackagingError: with BentoML's output when the build fails.
    """
    command = [
        sys.executable,
        "-m",
        "churn_assets.lib.serving.packaging",
        str(Path(bundle).resolve()),
    ]
    done = subprocess.run(
        command,
        env=bentoml_env(home),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise PackagingError(f"bento build failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return BentoBuild(**json.loads(lines[-1]))


def _pinned(packages: list[str]) -> list[str]:
    """``name==installed version`` for each package (unpinned if not installed)."""
    pins = []
    for spec in packages:
        name = spec.split("[")[0]
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            spec = f"{spec}=={importlib.metadata.version(name)}"
        pins.append(spec)
    return pins


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _save_and_build(bundle: Path) -> BentoBuild:
    """Runs in the child process, with BENTOML_HOME set before bentoml is imported."""
    import bentoml
    import yaml
    from bentoml._internal.bento.build_config import BentoEnvSchema
    from bentoml.exceptions import NotFound

    from churn_assets.lib.serving.bundle import read_meta

    meta = read_meta(bundle)
    version = meta.bento_version
    model_tag = f"{MODEL_NAME}:{version}"
    with contextlib.suppress(NotFound):
        bentoml.models.delete(model_tag)
    with bentoml.models.create(
        model_tag,
        labels={
            "registered_model": meta.model_name,
            "champion_version": meta.champion.version,
            "family": meta.champion.family,
        },
        # BentoML metadata takes basic types only (no None): the full record is serving.json.
        metadata={
            "champion_version": meta.champion.version,
            "shadow_version": meta.shadow.version if meta.shadow else "",
            "threshold": meta.champion.threshold,
            "contract": meta.contract_name,
        },
    ) as model:
        for item in bundle.iterdir():
            target = Path(model.path) / item.name
            if item.is_dir():
                shutil.copytree(item, target)
            else:
                shutil.copy2(item, target)

    config = yaml.safe_load(BENTOFILE.read_text())
    python = dict(config.get("python") or {})
    python["packages"] = _pinned(python.get("packages") or [])
    with contextlib.suppress(NotFound):
        bentoml.bentos.delete(f"{SERVICE_NAME}:{version}")
    os.environ["CHURN_BENTO_MODEL"] = model_tag  # resolved when the service module imports
    bento = bentoml.bentos.build(
        config["service"],
        name=SERVICE_NAME,
        version=version,
        labels={**(config.get("labels") or {}), "champion_version": meta.champion.version},
        description=config.get("description"),
        include=config.get("include"),
        exclude=config.get("exclude"),
        envs=[
            BentoEnvSchema(**env)
            for env in [
                *(config.get("envs") or []),
                {"name": "CHURN_BENTO_MODEL", "value": model_tag, "stage": "runtime"},
            ]
        ],
        docker=config.get("docker"),
        python=python,
        build_ctx=str(REPO_ROOT),
    )
    stored = bentoml.models.get(model_tag)
    return BentoBuild(
        model_tag=str(stored.tag),
        bento_tag=str(bento.tag),
        bento_path=str(bento.path),
        model_size_bytes=_dir_size(Path(stored.path)),
        bento_size_bytes=_dir_size(Path(bento.path)),
        champion_version=meta.champion.version,
        shadow_version=meta.shadow.version if meta.shadow else None,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Save a serving bundle and build the bento.")
    parser.add_argument("bundle", type=Path, help="folder written by export_bundle")
    args = parser.parse_args(argv)
    if "BENTOML_HOME" not in os.environ:
        parser.error("set BENTOML_HOME (the platform uses $CHURN_HOME/bentoml)")
    result = _save_and_build(args.bundle)
    sys.stdout.write(json.dumps(result.__dict__) + "\n")


if __name__ == "__main__":
    main()
