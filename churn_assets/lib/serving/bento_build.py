"""The bundle into the BentoML store and the bento built around it, in the process that
:func:`churn_assets.lib.serving.packaging.build_bento` starts with ``BENTOML_HOME`` set (BentoML
reads it once per process)::

    python -m churn_assets.lib.serving.bento_build <bundle folder>

saves the bundle as the BentoML model ``churn_model:<version>`` and builds the bento
``churn_service:<version>`` from ``bentos/churn_service/bentofile.yaml`` with requirements
pinned to the running environment (:func:`bentofile_config`), through BentoML's public
``bentoml.bentos.build_bentofile``, so every key of the file applies as written. It prints one
JSON line with the tags, sizes and paths (:class:`BentoBuild`).
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


def _save_model(bundle: Path, meta: ServingMeta) -> str:
    """Save ``bundle`` as the BentoML model ``churn_model:<version>`` (replacing it)."""
    import bentoml
    from bentoml.exceptions import NotFound

    model_tag = f"{MODEL_NAME}:{meta.bento_version}"
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
    return model_tag


def _save_and_build(bundle: Path, export: Path | None = None) -> BentoBuild:
    """Runs in the child process, with BENTOML_HOME set before bentoml is imported."""
    import bentoml
    from bentoml.exceptions import NotFound

    meta = read_meta(bundle)
    version = meta.bento_version
    model_tag = _save_model(bundle, meta)
    with contextlib.suppress(NotFound):
        bentoml.bentos.delete(f"{SERVICE_NAME}:{version}")
    os.environ["CHURN_BENTO_MODEL"] = model_tag  # resolved when the service module imports
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
