"""The IO managers: every table and object one step hands to another, stored where any machine
can read it back.

Tables go to Parquet, Python objects (fitted pipelines, reports) to joblib, under one base URI:
a local folder or an ``s3://`` prefix. S3 goes through ``s3fs`` (via ``universal-pathlib``),
which reads the standard AWS variables, ``AWS_ENDPOINT_URL`` included, so any S3-compatible
store works. Writes go to a temporary name and are renamed, so a crash never leaves a
truncated file where a reader expects a complete one.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

import dagster as dg
from upath import UPath

if TYPE_CHECKING:
    import pandas as pd


class _UPathIOManagerFactory(dg.ConfigurableIOManagerFactory):
    """Shared config of the IO managers: a local folder or an ``s3://`` URI.

    S3 goes through ``s3fs`` (via ``universal-pathlib``), which reads the standard AWS
    variables, ``AWS_ENDPOINT_URL`` included, so any S3-compatible store works.
    """

    base_uri: str

    @cached_property
    def _base_path(self) -> UPath:
        return UPath(self.base_uri)


class _ParquetIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pd.DataFrame, path: UPath) -> None:
        import pandas as pd

        if not isinstance(obj, pd.DataFrame):
            raise dg.Failure(
                f"{context.asset_key.to_user_string()}: the table IO manager stores pandas "
                f"DataFrames, got {type(obj).__name__}; use io_manager_key='artifact_io_manager'",
                allow_retries=False,
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary name and rename, so a crash never leaves a truncated table
        # where a reader expects a complete one.
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            obj.to_parquet(f, index=False)
        tmp.rename(path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pd.DataFrame:
        import pandas as pd

        with path.open("rb") as f:
            return pd.read_parquet(f)


class _JoblibIOManager(dg.UPathIOManager):
    extension = ".joblib"

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            joblib.dump(obj, f)
        tmp.rename(path)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        import joblib

        with path.open("rb") as f:
            return joblib.load(f)


class TableIOManager(_UPathIOManagerFactory):
    """Stores DataFrame assets as Parquet under ``base_uri`` (local or S3)."""

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.UPathIOManager:
        return _ParquetIOManager(base_path=self._base_path)


class ArtifactIOManager(_UPathIOManagerFactory):
    """Stores Python objects (fitted pipelines) with joblib under ``base_uri``."""

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.UPathIOManager:
        return _JoblibIOManager(base_path=self._base_path)
