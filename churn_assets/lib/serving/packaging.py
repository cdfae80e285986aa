"""From the MLflow registry to a BentoML bento: the champion (and its challenger in shadow).

:func:`package_champion` does both steps, in two processes because BentoML reads
``BENTOML_HOME`` once per process:

1. :func:`export_bundle` (in the caller's process): resolve ``@champion`` (and ``@challenger``
   when it is a different version) in the MLflow registry, load the registered sklearn
   models, and write a bundle folder (:mod:`churn_assets.lib.serving.bundle`).
2. :func:`build_bento` runs :mod:`churn_assets.lib.serving.bento_build` in a child process
   with ``BENTOML_HOME=$CHURN_HOME/bentoml``: it saves the bundle as the BentoML model
   ``churn_model:<version>`` and builds the bento ``churn_service:<version>``.

Versions are ``v<champion>`` (``v3``) or ``v<champion>-shadow-v<challenger>``. Rebuilding an
existing version replaces it, so ``churn_service:latest`` always follows the champion,
also after a rollback to an older version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from churn_assets.lib.contract import DataContract
from churn_assets.lib.evaluation.explain import DEFAULT_BACKGROUND_ROWS
from churn_assets.lib.serving.bento_build import REPO_ROOT, BentoBuild
from churn_assets.lib.serving.bundle import ServingMeta, example_record, write_bundle
from churn_assets.lib.serving.policy import BentoPolicy


class PackagingError(RuntimeError):
    """The bento cannot be built (no champion, a traffic share out of range, a failed build)."""


def package_champion(
    home: Path,
    model_name: str,
    contract: DataContract,
    background: pd.DataFrame,
    policy: BentoPolicy | None = None,
    log: Callable[[str], Any] | None = None,
    publish_to: Any = None,
) -> tuple[ServingMeta, BentoBuild, str | None]:
    """The bento of the current ``@champion``: :func:`export_bundle` into a temporary folder,
    then :func:`build_bento` from it (arguments as there; ``log`` hears of each step).

    Args:
        publish_to: a folder (``UPath``: local or ``s3://``) the built bento is exported to
            as one archive, with ``latest.json`` naming it, so a serving host that shares no
            disk with this one imports it (:mod:`churn_assets.lib.serving.bento_store`).
            Returns the archive's URI third (None when not published).

    Raises:
        PackagingError: when there is nothing to serve, a share is outside [0, 1], or the
            build fails.
    """
    policy = policy or BentoPolicy()
    if not 0.0 <= policy.shadow_share <= 1.0 or not 0.0 <= policy.ab_share <= 1.0:
        raise PackagingError("shadow_share and ab_share must be in [0, 1]")
    with tempfile.TemporaryDirectory(prefix="churn-bundle-") as folder:
        meta = export_bundle(folder, model_name, contract, background, policy)
        if log is not None:
            log(f"Building bento {meta.bento_version} (BentoML runs in a subprocess)")
        archive = Path(folder) / "bento.bento" if publish_to is not None else None
        build = build_bento(folder, home, export=archive)
        uri = None
        if archive is not None:
            from churn_assets.lib.serving.bento_store import publish

            uri = publish(archive, publish_to, build)
            if log is not None:
                log(f"Exported {build.bento_tag} to {uri}")
    return meta, build, uri


def export_bundle(
    folder: str | os.PathLike[str],
    model_name: str,
    contract: DataContract,
    background: pd.DataFrame,
    policy: BentoPolicy | None = None,
) -> ServingMeta:
    """Write the serving bundle of the current ``@champion`` into ``folder``.

    Args:
        background: training rows (contract fields); a sample becomes the SHAP reference
            and the first row the OpenAPI example.
        policy: the shadow, the traffic shares and the medium risk tier (defaults if None).

    Raises:
        PackagingError: when the registry has no champion.
    """
    import mlflow

    from churn_assets.lib.registry import aliases as registry

    policy = policy or BentoPolicy()
    try:
        champion_slot = registry.serving_slot(model_name, registry.CHAMPION)
        challenger = (
            registry.serving_slot(model_name, registry.CHALLENGER) if policy.shadow else None
        )
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
        medium_threshold=champion_slot.threshold * policy.medium_fraction,
        shadow_share=policy.shadow_share,
        ab_share=policy.ab_share,
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


def bentoml_env(home: Path) -> dict[str, str]:
    """The environment a BentoML command needs for this platform home."""
    from churn_assets.lib.settings import bentoml_home

    env = dict(os.environ)
    env["BENTOML_HOME"] = str(bentoml_home(home))
    env["BENTOML_DO_NOT_TRACK"] = "True"
    env["CHURN_HOME"] = str(home)
    return env


def build_bento(
    bundle: str | os.PathLike[str],
    home: Path,
    timeout: float = 600,
    export: Path | None = None,
) -> BentoBuild:
    """Save ``bundle`` as a BentoML model and build the bento, in a child process.

    Args:
        export: also write the built bento as one archive there (``bentoml export``).

    Raises:
        PackagingError: with BentoML's output when the build fails.
    """
    command = [
        sys.executable,
        "-m",
        "churn_assets.lib.serving.bento_build",
        str(Path(bundle).resolve()),
        *(("--export", str(export)) if export is not None else ()),
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
