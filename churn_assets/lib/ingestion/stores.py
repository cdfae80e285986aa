"""File stores: list and read the data files of a local path or an S3 prefix.

The S3 store reads through a boto3 client (dagster-aws ``S3Resource``), so
``AWS_ENDPOINT_URL`` points it at any S3-compatible store. Import-light (no pandas): the
landing sensor lists stores on every tick.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from churn_assets.lib.ingestion.errors import SourceError, SourceNotFoundError
from churn_assets.lib.ingestion.uri import DataURI

SUPPORTED_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class SourceFile:
    """One data file of a source; ``version`` changes whenever its content may have."""

    name: str
    size: int
    version: str


class FileStore(Protocol):
    """Lists and reads the data files of a source."""

    description: str

    def list_files(self) -> list[SourceFile]:
        """Data files, sorted by name."""
        ...

    def read_bytes(self, file: SourceFile) -> bytes:
        """The whole content of one file."""
        ...

    def read_range(self, file: SourceFile, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of one file: the landing sensor's checks
        look at a header or a Parquet footer without downloading the file."""
        ...


class LocalFileStore:
    """A local CSV/Parquet file, or a folder of them (not recursive)."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.description = str(self.path)

    def list_files(self) -> list[SourceFile]:
        if not self.path.exists():
            raise SourceNotFoundError(f"data source not found: no such file or folder {self.path}")
        if self.path.is_file():
            candidates = [self.path]
        else:
            candidates = sorted(p for p in self.path.iterdir() if p.is_file())
            candidates = [p for p in candidates if p.suffix.lower() in SUPPORTED_SUFFIXES]
            if not candidates:
                raise SourceNotFoundError(
                    f"data source {self.path} is a folder with no .csv or .parquet files"
                )
        files = []
        for p in candidates:
            stat = p.stat()
            files.append(SourceFile(str(p), stat.st_size, f"{stat.st_size}-{stat.st_mtime_ns}"))
        return files

    def read_bytes(self, file: SourceFile) -> bytes:
        return Path(file.name).read_bytes()

    def read_range(self, file: SourceFile, start: int, end: int) -> bytes:
        with Path(file.name).open("rb") as handle:
            handle.seek(start)
            return handle.read(max(0, end - start))


class S3FileStore:
    """Every ``.csv``/``.parquet`` object under ``s3://bucket/prefix``.

    Args:
        client: a boto3 S3 client (``S3Resource.get_client()``), which reads
            ``AWS_ENDPOINT_URL`` and the usual credentials from the environment.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix
        self.description = f"s3://{bucket}/{prefix}"

    def list_files(self) -> list[SourceFile]:
        from botocore.exceptions import ClientError

        files: list[SourceFile] = []
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"]
                    if key.lower().endswith(SUPPORTED_SUFFIXES):
                        etag = str(obj.get("ETag", "")).strip('"')
                        files.append(SourceFile(key, int(obj["Size"]), etag))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NoSuchBucket", "404"):
                raise SourceNotFoundError(
                    f"data source {self.description}: bucket {self.bucket!r} does not exist"
                ) from exc
            raise SourceError(f"data source {self.description}: {exc}") from exc
        if not files:
            raise SourceNotFoundError(
                f"data source {self.description}: no .csv or .parquet objects under this prefix"
            )
        return sorted(files, key=lambda f: f.name)

    def read_bytes(self, file: SourceFile) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=file.name)
        return response["Body"].read()

    def read_range(self, file: SourceFile, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        # An HTTP range request: only these bytes leave the bucket.
        response = self.client.get_object(
            Bucket=self.bucket, Key=file.name, Range=f"bytes={start}-{end - 1}"
        )
        return response["Body"].read()


def fingerprint(files: Iterable[SourceFile]) -> str:
    """A short content version of a set of files (names, sizes and versions)."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        digest.update(f"{f.name}\0{f.size}\0{f.version}\n".encode())
    return digest.hexdigest()[:16]


def open_store(uri: DataURI, s3_client: Callable[[], Any] | None = None) -> FileStore:
    """The file store behind a local or s3 URI.

    Args:
        uri: a parsed URI of scheme ``file`` or ``s3``.
        s3_client: returns a boto3 S3 client; needed for ``s3`` URIs.
    """
    if uri.scheme == "file":
        return LocalFileStore(uri.location)
    if uri.scheme == "s3":
        if s3_client is None:
            raise SourceError("an s3:// data source needs an S3 client (the `s3` resource)")
        return S3FileStore(s3_client(), uri.bucket, uri.prefix)
    raise SourceError(f"no file store for scheme {uri.scheme!r}")
