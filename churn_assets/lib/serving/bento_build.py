"""The bundle into the BentoML store and the bento built around it, in the process that
:func:`churn_assets.lib.serving.packaging.build_bento` starts with ``BENTOML_HOME`` set (BentoML
reads it once per process)::

    python -m churn_assets.lib.serving.bento_build <bundle folder>

saves the bundle as the BentoML model ``churn_model:<version>`` and builds the bento
``churn_service:<version>`` from ``bentos/churn_service/bentofile.yaml`` with requirements
pinned to the running environment (:func:`bentofile_config`), through BentoML's public
``bentoml.bentos.build_bentofile``, so every key of the file applies as written. It prints one
JSON line with the tags, sizes and paths (:class:`BentoBuild`).

Nothing in the store is deleted or replaced: the version is ``v<champion>`` (plus
``-shadow-v<challenger>``) the first time, and ``<that>-r2``, ``-r3``... when a build of it
exists already (a rebuild after a rollback, a retry); a failed build removes only the model it
has just saved itself. BentoML points ``churn_service:latest``
at a bento once it is completely saved, so a build that fails or is killed leaves the bento
being served, the rollback target and ``:latest`` as they were. A killed build can leave a
half-written store folder; the next build moves such folders (no ``bento.yaml`` /
``model.yaml``) to ``$BENTOML_HOME/incomplete/`` so BentoML's listing keeps working.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from churn_assets.lib.serving.bundle import ServingMeta, read_meta

REPO_ROOT = Path(__file__).resolve().parents[3]
BENTOFILE = REPO_ROOT / "bentos" / "churn_service" / "bentofile.yaml"
MODEL_NAME = "churn_model"
SERVICE_NAME = "churn_service"


@dataclass(frozen=True)
class BentoBuild:
    """What a build produced (the child's JSON line)."""

    model_tag: str
    bento_tag: str
    bento_path: str
    model_size_bytes: int
    bento_size_bytes: int
    champion_version: str
    shadow_version: str | None


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


def bentofile_config(model_tag: str) -> dict[str, Any]:
    """``bentofile.yaml`` as the bento is built from it: the model families' packages added,
    every package pinned to the installed version, and ``CHURN_BENTO_MODEL`` set to the model
    the bento serves."""
    from churn_assets.lib.training.families import requirements

    config = yaml.safe_load(BENTOFILE.read_text())
    python = dict(config.get("python") or {})
    packages = dict.fromkeys([*(python.get("packages") or []), *requirements()])
    python["packages"] = _pinned(list(packages))
    model_env = {"name": "CHURN_BENTO_MODEL", "value": model_tag, "stage": "runtime"}
    return {**config, "python": python, "envs": [*(config.get("envs") or []), model_env]}


def _store_folders(home: Path) -> dict[str, tuple[Path, str]]:
    """Where BentoML keeps our models and bentos, and the file a complete item holds."""
    return {
        "model": (home / "models" / MODEL_NAME, "model.yaml"),
        "bento": (home / "bentos" / SERVICE_NAME, "bento.yaml"),
    }


def set_aside_incomplete(home: Path) -> list[str]:
    """Move half-written store folders (a killed build's) to ``home/incomplete``; their
    tags. Only one build runs at a time (the run queue's ``churn/writes`` tag)."""
    from datetime import UTC, datetime

    moved = []
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    for kind, (folder, marker) in _store_folders(home).items():
        if not folder.is_dir():
            continue
        for item in folder.iterdir():
            if item.is_dir() and not (item / marker).is_file():
                target = home / "incomplete" / kind / f"{item.name}-{stamp}"
                target.parent.mkdir(parents=True, exist_ok=True)
                item.rename(target)
                moved.append(f"{folder.name}:{item.name}")
    return moved


def free_version(home: Path, base: str) -> str:
    """``base`` when neither ``churn_model:<base>`` nor ``churn_service:<base>`` exists, else
    the first ``<base>-r<n>`` (n >= 2) free in both: a build never replaces an existing one."""
    folders = [folder for folder, _ in _store_folders(home).values()]
    candidate, n = base, 1
    while any((folder / candidate).exists() for folder in folders):
        n += 1
        candidate = f"{base}-r{n}"
    return candidate


def _save_model(bundle: Path, meta: ServingMeta, version: str) -> str:
    """Save ``bundle`` as the BentoML model ``churn_model:<version>`` (a free version)."""
    import bentoml

    model_tag = f"{MODEL_NAME}:{version}"
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
    return model_tag


def _save_and_build(bundle: Path, export: Path | None = None) -> BentoBuild:
    """Runs in the child process, with BENTOML_HOME set before bentoml is imported."""
    import bentoml

    meta = read_meta(bundle)
    home = Path(os.environ["BENTOML_HOME"])
    set_aside_incomplete(home)
    version = free_version(home, meta.bento_version)
    model_tag = _save_model(bundle, meta, version)
    os.environ["CHURN_BENTO_MODEL"] = model_tag  # resolved when the service module imports
    try:
        with tempfile.TemporaryDirectory(prefix="churn-bentofile-") as folder:
            bentofile = Path(folder) / "bentofile.yaml"
            bentofile.write_text(yaml.safe_dump(bentofile_config(model_tag), sort_keys=False))
            bento = bentoml.bentos.build_bentofile(
                str(bentofile),
                name=SERVICE_NAME,
                version=version,
                labels={"champion_version": meta.champion.version},
                build_ctx=str(REPO_ROOT),
            )
    except BaseException:
        # Only this attempt's own new model goes (no bento uses it); nothing older is touched.
        bentoml.models.delete(model_tag)
        raise
    if export is not None:  # one archive a serving host imports (`bentoml import`)
        bentoml.bentos.export_bento(bento.tag, str(export))
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
    parser.add_argument("--export", type=Path, help="also export the bento to this .bento file")
    args = parser.parse_args(argv)
    if "BENTOML_HOME" not in os.environ:
        parser.error("set BENTOML_HOME (the platform uses $CHURN_HOME/bentoml)")
    result = _save_and_build(args.bundle, args.export)
    sys.stdout.write(json.dumps(result.__dict__) + "\n")


if __name__ == "__main__":
    main()
