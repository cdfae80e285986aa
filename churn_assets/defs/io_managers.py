"""The IO managers: every table and object one step hands to another, stored where any machine
can read it back.

Tables go to Parquet, Python objects (fitted pipelines, reports) to joblib, under one base URI:
a local folder or an ``s3://`` prefix. S3 goes through ``s3fs`` (via ``universal-pathlib``),
which reads the standard AWS variables, ``AWS_ENDPOINT_URL`` included, so any S3-compatible
store works.

A reader never sees half an object. Each value is serialized in memory first, then stored in
one write: on an object store one PUT (a multipart upload above 100 MiB), which S3 makes visible
whole or not at all (checked against the team stack's ``rclone serve s3``: an upload cut off by
killing the server leaves no object); on a local disk a temporary file renamed over the target.
(A temporary key renamed on S3 would be a copy plus a delete: twice the traffic, and a stray
``.tmp`` object when a step dies between the two.)

When the store does not answer, the step fails with :class:`StoreUnavailableError`, naming the
object, the endpoint and the bucket (the client's error is its cause), and the job's retry
policy retries it; bytes that are not a complete Parquet or joblib file fail the step at once
(``dg.Failure(allow_retries=False)``), since reading them again cannot mend them.
"""

from __future__ import annotations

import io
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

import dagster as dg
from upath import UPath

if TYPE_CHECKING:
    import pandas as pd

_LOCAL = ("", "file", "local")


class StoreUnavailableError(OSError):
    """The table store did not answer or refused a read or write (retried by the step policy)."""


def describe_store(path: UPath) -> str:
    """Where ``path`` lives, for error messages: the URI, and for object stores the endpoint
    and bucket the client was pointed at."""
    if path.protocol in _LOCAL:
        return str(path)
    fs = path.fs
    client_kwargs = getattr(fs, "client_kwargs", None) or {}
    endpoint = (
        getattr(fs, "endpoint_url", None)
        or client_kwargs.get("endpoint_url")
        or os.environ.get("AWS_ENDPOINT_URL")
        or "the provider's default endpoint"
    )
    bucket = path.path.split("/", 1)[0]
    return f"{path} (bucket {bucket!r} at {endpoint})"


def _unavailable(action: str, context: Any, path: UPath, exc: BaseException) -> Exception:
    what = context.asset_key.to_user_string() if context.has_asset_key else "the output"
    return StoreUnavailableError(
        f"could not {action} {what}: {describe_store(path)} did not answer or refused the "
        f"request ({type(exc).__name__}: {str(exc)[:300]}). Check that the store is up and that "
        "AWS_ENDPOINT_URL and the AWS credentials point at it; the step is retried by the job's "
        "retry policy, and once the store is back a re-execution from failure resumes the run."
    )


def write_whole(path: UPath, data: bytes) -> None:
    """Store ``data`` at ``path`` so that a reader sees all of it or nothing (see the module)."""
    if path.protocol in _LOCAL:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)  # atomic on one filesystem
    else:
        path.fs.pipe_file(path.path, data)


class _StoreIOManager(dg.UPathIOManager):
    """Serialize in memory, store in one write, and name the store when it fails."""

    kind = ""  # what the bytes are, for messages

    def serialize(self, context: dg.OutputContext, obj: Any) -> bytes:
        raise NotImplementedError

    def deserialize(self, data: bytes) -> Any:
        raise NotImplementedError

    def make_directory(self, path: UPath) -> None:
        # Object stores have no folders; s3fs' mkdir would even create a missing bucket (and
        # fail with a bare client error when the store is away, before dump_to_path).
        if path.protocol in _LOCAL:
            path.mkdir(parents=True, exist_ok=True)

    def dump_to_path(self, context: dg.OutputContext, obj: Any, path: UPath) -> None:
        data = self.serialize(context, obj)
        try:
            write_whole(path, data)
        except Exception as exc:
            raise _unavailable("write", context, path, exc) from exc

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Any:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise  # never written (or a missing partition, which Dagster handles)
        except Exception as exc:
            raise _unavailable("read", context, path, exc) from exc
        try:
            return self.deserialize(data)
        except Exception as exc:
            raise dg.Failure(
                f"{describe_store(path)} holds {len(data)} bytes that are not a complete "
                f"{self.kind} ({type(exc).__name__}: {exc}); re-materialize the upstream asset "
                "to write it again.",
                allow_retries=False,
            ) from exc


class _ParquetIOManager(_StoreIOManager):
    extension = ".parquet"
    kind = "Parquet file"

    def serialize(self, context: dg.OutputContext, obj: pd.DataFrame) -> bytes:
        import pandas as pd

        if not isinstance(obj, pd.DataFrame):
            raise dg.Failure(
                f"{context.asset_key.to_user_string()}: the table IO manager stores pandas "
                f"DataFrames, got {type(obj).__name__}; use io_manager_key='artifact_io_manager'",
                allow_retries=False,
            )
        buffer = io.BytesIO()
        obj.to_parquet(buffer, index=False)
        return buffer.getvalue()

    def deserialize(self, data: bytes) -> pd.DataFrame:
        import pandas as pd

        return pd.read_parquet(io.BytesIO(data))


class _JoblibIOManager(_StoreIOManager):
    extension = ".joblib"
    kind = "joblib file"

    def serialize(self, context: dg.OutputContext, obj: Any) -> bytes:
        import joblib

        buffer = io.BytesIO()
        joblib.dump(obj, buffer)
        return buffer.getvalue()

    def deserialize(self, data: bytes) -> Any:
        import joblib

        return joblib.load(io.BytesIO(data))


class _UPathIOManagerFactory(dg.ConfigurableIOManagerFactory):
    """Shared config of the IO managers: a local folder or an ``s3://`` URI."""

    base_uri: str

    @cached_property
    def _base_path(self) -> UPath:
        return UPath(self.base_uri)


class TableIOManager(_UPathIOManagerFactory):
    """Stores DataFrame assets as Parquet under ``base_uri`` (local or S3)."""

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.UPathIOManager:
        return _ParquetIOManager(base_path=self._base_path)


class ArtifactIOManager(_UPathIOManagerFactory):
    """Stores Python objects (fitted pipelines) with joblib under ``base_uri``."""

    def create_io_manager(self, context: dg.InitResourceContext) -> dg.UPathIOManager:
        return _JoblibIOManager(base_path=self._base_path)
