"""The build configuration of the bento: ``bentofile.yaml`` as written, plus the model
families' packages, pins to the installed versions and the served model's tag."""

from __future__ import annotations

import importlib.metadata
import re

import yaml

from churn_assets.lib.serving.bento_build import BENTOFILE, REPO_ROOT, bentofile_config
from churn_assets.lib.training.families import requirements


def test_the_bentofile_is_built_as_written_plus_pins_and_the_model() -> None:
    written = yaml.safe_load(BENTOFILE.read_text())
    config = bentofile_config("churn_model:v3-shadow-v4")
    unchanged = {k: v for k, v in config.items() if k not in ("python", "envs")}
    assert unchanged == {k: v for k, v in written.items() if k not in ("python", "envs")}
    packages = config["python"]["packages"]
    names = [p.split("==")[0] for p in packages]
    assert names == list(dict.fromkeys([*written["python"]["packages"], *requirements()]))
    assert "xgboost" in names and "lightgbm" in names  # from the family specs
    assert f"numpy=={importlib.metadata.version('numpy')}" in packages
    assert config["python"]["lock_packages"] is False
    assert config["envs"] == [
        *written["envs"],
        {"name": "CHURN_BENTO_MODEL", "value": "churn_model:v3-shadow-v4", "stage": "runtime"},
    ]


def test_serving_uses_no_private_bentoml_api() -> None:
    sources = [
        *(REPO_ROOT / "churn_assets" / "lib" / "serving").glob("*.py"),
        *(REPO_ROOT / "bentos").rglob("*.py"),
    ]
    private = re.compile(r"^\s*(from|import)\s+(bentoml\._internal|_bentoml_)", re.MULTILINE)
    found = [p.relative_to(REPO_ROOT).as_posix() for p in sources if private.search(p.read_text())]
    assert len(sources) > 5 and not found, found
