"""The registry tests' store: a private copy of the session's template registry."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn_assets_tests.lib.registry.registry_store import copy_of, template


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the session's template store: v1 champion, v2 a passed challenger."""
    import mlflow

    yield copy_of(template(tmp_path_factory), tmp_path / "home")
    mlflow.set_tracking_uri(None)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
