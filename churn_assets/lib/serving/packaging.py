"""From the MLflow registry to a BentoML bento: the champion (and its challenger in shadow).

:func:`deploy` is what ``churn_bento`` runs: it builds and publishes the bento of the champion
*to be* (a pending promotion or rollback, ``aliases.pending_move``, else the current
champion) and only then completes the move of ``@champion`` (the registry's last write). A
failed or killed build therefore leaves the registry, ``churn_service:latest`` and the
published ``latest.json`` on the old champion, with the move still pending for the next try.

:func:`package_champion` does the packaging, in two processes because BentoML reads
``BENTOML_HOME`` once per process:

1. :func:`export_bundle` (in the caller's process): resolve ``@champion`` (and ``@challenger``
   when it is a different version) in the MLflow registry, load the registered sklearn
   models, and write a bundle folder (:mod:`churn_assets.lib.serving.bundle`).
2. :func:`build_bento` runs :mod:`churn_assets.lib.serving.bento_build` in a child process
   with ``BENTOML_HOME=$CHURN_HOME/bentoml``: it saves the bundle as the BentoML model
   ``churn_model:<version>`` and builds the bento ``churn_service:<version>``.

Versions are ``v<champion>`` (``v3``) or ``v<champion>-shadow-v<challenger>``; a rebuild of an
existing version gets ``-r2``, ``-r3``... (``bento_build.free_version``): nothing is deleted
before its replacement exists, and ``churn_service:latest`` follows the newest build, so it
follows the champion, also after a rollback to an older version.

A challenger is packaged beside the champion (in shadow, or answering an ``ab_share`` of
customers) only when the gate judged it with every criterion passed and it was not rolled
back (``aliases.traffic_eligibility``); otherwise the bento is built without it and why is
recorded (:attr:`Packaged.shadow_note`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Packaged:
    """A built (and maybe published) bento and why its challenger is or is not in it."""

    meta: ServingMeta
    build: BentoBuild
    uri: str | None  # the published archive, None when not published
    shadow_note: str


@dataclass(frozen=True)
class Deployment:
    """What :func:`deploy` did: the bento, and the champion move it completed (if any)."""

    packaged: Packaged
    move: Any = None  # aliases.AliasMove: the move completed after the bento was published
    pending_kind: str | None = None  # "promote" | "rollback" when a move was completed


def deploy(
    home: Path,
    model_name: str,
    contract: DataContract,
    background: pd.DataFrame,
    policy: BentoPolicy | None = None,
    log: Callable[[str], Any] | None = None,
    publish_to: Any = None,
) -> Deployment:
    """Build and publish the bento of the champion to be, then move ``@champion`` to it.

    The champion to be is the pending move's target (``aliases.pending_move``: a promotion
    the gate approved or a requested rollback), else the current champion (a rebuild).

    Raises:
        PackagingError: as :func:`package_champion`; the registry is then unchanged and the
            move stays pending.
    """
    from churn_assets.lib.registry import aliases

    pending = aliases.pending_move(model_name)
    exclude = {}
    if pending is not None and pending.from_version:
        exclude[pending.from_version] = f"being replaced by v{pending.version} ({pending.kind})"
    if log is not None and pending is not None:
        log(f"Pending {pending.kind} to v{pending.version} (requested by {pending.actor})")
    packaged = package_champion(
        home,
        model_name,
        contract,
        background,
        policy,
        log,
        publish_to,
        version=pending.version if pending else None,
        exclude=exclude,
    )
    if pending is None:
        return Deployment(packaged)
    move = aliases.complete_move(pending)  # the last write: @champion moves
    if log is not None:
        log(f"@champion -> v{move.to_version} (was v{move.from_version or 'none'})")
    return Deployment(packaged, move, pending.kind)


def package_champion(
    home: Path,
    model_name: str,
    contract: DataContract,
    background: pd.DataFrame,
    policy: BentoPolicy | None = None,
    log: Callable[[str], Any] | None = None,
    publish_to: Any = None,
    version: str | None = None,
    exclude: dict[str, str] | None = None,
) -> Packaged:
    """The bento of the current ``@champion`` (or of ``version``): :func:`export_bundle` into
    a temporary folder, then :func:`build_bento` from it (arguments as there; ``log`` hears
    of each step). The registry is not changed.

    Args:
        publish_to: a folder (``UPath``: local or ``s3://``) the built bento is exported to
            as one archive, with ``latest.json`` naming it, so a serving host that shares no
            disk with this one imports it (:mod:`churn_assets.lib.serving.bento_store`).

    Raises:
        PackagingError: when there is nothing to serve, a share is outside [0, 1], or the
            build fails.
    """
    policy = policy or BentoPolicy()
    if not 0.0 <= policy.shadow_share <= 1.0 or not 0.0 <= policy.ab_share <= 1.0:
        raise PackagingError("shadow_share and ab_share must be in [0, 1]")
    with tempfile.TemporaryDirectory(prefix="churn-bundle-") as folder:
        meta, note = export_bundle(
            folder, model_name, contract, background, policy, version, exclude
        )
        if log is not None:
            log(f"Building bento {meta.bento_version} (BentoML runs in a subprocess); {note}")
        archive = Path(folder) / "bento.bento" if publish_to is not None else None
        build = build_bento(folder, home, export=archive)
        uri = None
        if archive is not None:
            from churn_assets.lib.serving.bento_store import publish

            uri = publish(archive, publish_to, build)
            if log is not None:
                log(f"Exported {build.bento_tag} to {uri}")
    return Packaged(meta, build, uri, note)


def choose_shadow(
    model_name: str, champion: str, policy: BentoPolicy, exclude: dict[str, str] | None = None
) -> tuple[Any, str]:
    """The ``@challenger`` slot to package beside ``champion``, or None; and why.

    Raises:
        PackagingError: when the challenger records no decision threshold.
    """
    from churn_assets.lib.registry import aliases as registry

    if not policy.shadow:
        return None, "no challenger packaged: shadow is off"
    version = registry.version_by_alias(model_name, registry.CHALLENGER)
    if version is None:
        return None, "no challenger packaged: no @challenger"
    number = str(version.version)
    if number == champion:
        return None, f"no challenger packaged: @challenger v{number} is the champion"
    if exclude and number in exclude:
        return None, f"challenger v{number} not packaged: {exclude[number]}"
    eligible, why = registry.traffic_eligibility(dict(version.tags or {}))
    if not eligible:
        return None, f"challenger v{number} not packaged: {why}"
    try:
        slot = registry.slot_of(model_name, version)
    except registry.RegistryError as exc:
        raise PackagingError(str(exc)) from exc
    return slot, (
        f"challenger v{number} packaged ({why}): shadow_share {policy.shadow_share}, "
        f"ab_share {policy.ab_share}"
    )


def export_bundle(
    folder: str | os.PathLike[str],
    model_name: str,
    contract: DataContract,
    background: pd.DataFrame,
    policy: BentoPolicy | None = None,
    version: str | None = None,
    exclude: dict[str, str] | None = None,
) -> tuple[ServingMeta, str]:
    """Write the serving bundle of the current ``@champion`` (or of ``version``) into
    ``folder``; the bundle's record and why its challenger is or is not in it.

    Args:
        background: training rows (contract fields); a sample becomes the SHAP reference
            and the first row the OpenAPI example.
        policy: the shadow, the traffic shares and the medium risk tier (defaults if None).
        exclude: challenger versions never to package, with why (the version a pending
            move replaces).

    Raises:
        PackagingError: when the registry has no champion.
    """
    import mlflow

    from churn_assets.lib.registry import aliases as registry

    policy = policy or BentoPolicy()
    try:
        if version is not None:
            champion_slot = registry.version_slot(model_name, version)
        else:
            champion_slot = registry.serving_slot(model_name, registry.CHAMPION)
    except registry.RegistryError as exc:
        raise PackagingError(str(exc)) from exc
    if champion_slot is None:
        raise PackagingError(
            f"registered model {model_name!r} has no @champion: nothing to serve. Materialize "
            "promotion_decision (the gate promotes the first model that passes)."
        )
    shadow_slot, note = choose_shadow(model_name, champion_slot.version, policy, exclude)
    sample = background.sample(n=min(DEFAULT_BACKGROUND_ROWS, len(background)), random_state=0)
    # Feature fields only: the bento goes to every serving host, and SHAP needs no id.
    columns = [c for c in contract.feature_columns if c in sample]
    meta = ServingMeta(
        model_name=model_name,
        champion=champion_slot,
        shadow=shadow_slot,
        contract_name=contract.name,
        medium_threshold=champion_slot.threshold * policy.medium_fraction,
        # Without a packaged challenger nobody is answered by one, whatever the policy says.
        shadow_share=policy.shadow_share if shadow_slot else 0.0,
        ab_share=policy.ab_share if shadow_slot else 0.0,
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
    return meta, note


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
