"""Where raw customer data comes from: the simulator, local files, or an S3 prefix.

A source is named by one URI (``CHURN_DATA_URI``):

* ``sim://default`` or ``sim://?customers=5000&months=6&seed=42&dirty_rate=0.005`` -- the
  built-in simulator (drift knobs: ``drift_start``, ``price_rise``, ``month_to_month_shift``,
  ``concept_shift``);
* a local path (``data/telco.csv``, ``/data/landing/``, ``file:///data/x.parquet``) -- one
  CSV/Parquet file, or a folder of them read in name order (monthly files);
* ``s3://bucket/prefix`` -- every ``.csv``/``.parquet`` object under the prefix, read through
  a boto3 client (dagster-aws ``S3Resource``), so ``AWS_ENDPOINT_URL`` points it at any
  S3-compatible store.

Nothing is dropped on the way in. CSV is read as text (types are the contract's business, in
validation), and a line that cannot be parsed becomes a row whose ``_parse_error`` says why,
so validation can quarantine it with the rest.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlparse

import numpy as np
import pandas as pd

from churn_assets.lib.ingestion.months import month_of

if TYPE_CHECKING:
    from churn_assets.lib.ingestion.simulator import SimulatorConfig


DEFAULT_DATA_URI = "sim://default"
SUPPORTED_SUFFIXES = (".csv", ".parquet")

# Lineage columns added to every raw row; validation drops them from the validated table and
# keeps them on quarantined rows so a person can find the offending line.
SOURCE_COL = "_source"
LINE_COL = "_line"
PARSE_ERROR_COL = "_parse_error"
LINEAGE_COLUMNS = (SOURCE_COL, LINE_COL, PARSE_ERROR_COL)


class SourceError(Exception):
    """Base class of source problems; the message always names the file, bucket or URI."""


class SourceNotFoundError(SourceError, FileNotFoundError):
    """The file, folder, bucket or prefix does not exist or holds no data files."""


class SourceFormatError(SourceError, ValueError):
    """A file exists but cannot be read as a table at all (empty, unknown type, corrupt)."""


@dataclass(frozen=True)
class SourceFile:
    """One data file of a source; ``version`` changes whenever its content may have."""

    name: str
    size: int
    version: str


@dataclass(frozen=True)
class DataURI:
    """A parsed ``CHURN_DATA_URI``."""

    scheme: str  # "sim", "file" or "s3"
    location: str  # local path, or "bucket/prefix"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def bucket(self) -> str:
        """The S3 bucket (s3 URIs only)."""
        return self.location.split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """The S3 key prefix (s3 URIs only)."""
        parts = self.location.split("/", 1)
        return parts[1] if len(parts) > 1 else ""


def parse_data_uri(uri: str | None) -> DataURI:
    """Parse a data URI; an empty value means the simulator with its defaults.

    Raises:
        SourceError: for an unsupported scheme.
    """
    uri = (uri or DEFAULT_DATA_URI).strip()
    parsed = urlparse(uri)
    if parsed.scheme == "sim":
        return DataURI("sim", parsed.netloc or "default", dict(parse_qsl(parsed.query)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise SourceError(f"{uri!r}: an s3 URI needs a bucket, e.g. s3://my-bucket/landing/")
        return DataURI("s3", f"{parsed.netloc}/{parsed.path.lstrip('/')}")
    if parsed.scheme == "file":
        return DataURI("file", parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:  # one letter would be a Windows drive
        raise SourceError(
            f"{uri!r}: unsupported scheme {parsed.scheme!r}; use sim://, s3:// or a local path"
        )
    return DataURI("file", uri)


_SIM_PARAMS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "customers": ("n_customers", int),
    "months": ("months", int),
    "seed": ("seed", int),
    "start": ("start_month", str),
    "dirty_rate": ("dirty_rate", float),
}
_DRIFT_PARAMS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "drift_start": ("start_month", int),
    "price_rise": ("price_rise", float),
    "month_to_month_shift": ("month_to_month_shift", float),
    "concept_shift": ("concept_shift", float),
}
# The demo's departure from the simulator's defaults: a little dirt, so that the quarantine
# path has something to show.
DEMO_SIMULATION_OVERRIDES: dict[str, Any] = {"dirty_rate": 0.003}


def simulator_config(uri: DataURI) -> SimulatorConfig:
    """The simulator configuration a ``sim://`` URI asks for.

    Raises:
        SourceError: for an unknown parameter or a value of the wrong type.
    """
    kwargs: dict[str, Any] = {}
    drift: dict[str, Any] = {}
    for key, raw in uri.params.items():
        target = _SIM_PARAMS.get(key) or _DRIFT_PARAMS.get(key)
        if target is None:
            known = sorted([*_SIM_PARAMS, *_DRIFT_PARAMS])
            raise SourceError(f"sim:// parameter {key!r} is unknown; known: {known}")
        name, cast = target
        try:
            value = cast(raw)
        except ValueError as exc:
            raise SourceError(f"sim:// parameter {key}={raw!r}: {exc}") from exc
        (drift if key in _DRIFT_PARAMS else kwargs)[name] = value
    from churn_assets.lib.ingestion.simulator import DriftSpec, SimulatorConfig

    merged = {**DEMO_SIMULATION_OVERRIDES, **kwargs}
    if drift:
        drift.setdefault("start_month", 0)
        merged["drift"] = DriftSpec(**drift)
    return SimulatorConfig(**merged)


# --------------------------------------------------------------------------- file stores
class FileStore(Protocol):
    """Lists and reads the data files of a source."""

    description: str

    def list_files(self) -> list[SourceFile]:
        """Data files, sorted by name."""
        ...

    def read_bytes(self, file: SourceFile) -> bytes:
        """The whole content of one file."""
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


def fingerprint(files: Iterable[SourceFile]) -> str:
    """A short content version of a set of files (names, sizes and versions)."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        digest.update(f"{f.name}\0{f.size}\0{f.version}\n".encode())
    return digest.hexdigest()[:16]


# --------------------------------------------------------------------------- parsing
def _decode(data: bytes, name: str) -> tuple[str, list[tuple[int, str]]]:
    """Decode UTF-8, setting aside (line number, text) of lines that are not UTF-8."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    good: list[str] = []
    bad: list[tuple[int, str]] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            good.append(line.decode("utf-8-sig" if number == 1 else "utf-8"))
        except UnicodeDecodeError as exc:
            shown = line.decode("utf-8", errors="replace")[:200]
            bad.append((number, f"not UTF-8 ({exc.reason} at byte {exc.start}): {shown!r}"))
            # An empty line keeps the parser's physical line numbers right (it skips blanks).
            good.append("")
    if not good or not good[0].strip():
        raise SourceFormatError(f"{name}: the header line is not valid UTF-8")
    return "\n".join(good), bad


def read_csv_text(data: bytes, name: str) -> pd.DataFrame:
    """Parse CSV bytes as text columns, keeping unparseable lines as error rows.

    Returns:
        The table (all columns as strings, blanks kept as empty strings) plus lineage
        columns; rows that could not be parsed carry their reason in ``_parse_error``.

    Raises:
        SourceFormatError: for an empty file or one without a header line.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    if not data.strip():
        raise SourceFormatError(f"{name}: the file is empty ({len(data)} bytes)")
    text, bad = _decode(data, name)
    header_line = text.split("\n", 1)[0]
    try:
        columns = list(pd.read_csv(io.StringIO(header_line), nrows=0).columns)
    except pd.errors.EmptyDataError as exc:
        raise SourceFormatError(f"{name}: the first line is blank, expected a header") from exc

    def on_invalid(row: Any) -> str:
        bad.append(
            (
                row.number if row.number is not None else -1,
                f"malformed CSV line: expected {row.expected_columns} fields, "
                f"got {row.actual_columns}: {row.text[:200]!r}",
            )
        )
        return "skip"

    try:
        table = pcsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            # One thread keeps physical line numbers available to the invalid-row handler.
            read_options=pcsv.ReadOptions(use_threads=False, block_size=1 << 24),
            parse_options=pcsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pcsv.ConvertOptions(
                column_types={c: pa.string() for c in columns},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise SourceFormatError(f"{name}: not a readable CSV file: {exc}") from exc
    frame = table.to_pandas()
    # pyarrow numbers data lines after the header from 1; report physical file lines.
    frame[LINE_COL] = pd.RangeIndex(2, len(frame) + 2)
    if bad:
        frame = _append_parse_errors(frame, bad, columns)
    frame[SOURCE_COL] = name
    return frame


def _append_parse_errors(
    frame: pd.DataFrame, bad: list[tuple[int, str]], columns: list[str]
) -> pd.DataFrame:
    # Good rows' physical line numbers skip over every line set aside before them.
    skipped = np.array(sorted(n for n, _ in bad if n > 0), dtype=np.int64)
    if len(skipped):
        candidates = np.arange(2, len(frame) + 2 + len(skipped), dtype=np.int64)
        frame[LINE_COL] = np.setdiff1d(candidates, skipped)[: len(frame)]
    errors = pd.DataFrame({c: [None] * len(bad) for c in columns})
    errors[LINE_COL] = [n for n, _ in bad]
    errors[PARSE_ERROR_COL] = [reason for _, reason in bad]
    return pd.concat([frame, errors], ignore_index=True)


def read_table(data: bytes, name: str) -> pd.DataFrame:
    """Read one CSV or Parquet file's bytes into a raw frame with lineage columns.

    Raises:
        SourceFormatError: the file is empty, of an unknown type, or corrupt.
    """
    lowered = name.lower()
    if lowered.endswith(".csv"):
        frame = read_csv_text(data, name)
    elif lowered.endswith(".parquet"):
        if not data:
            raise SourceFormatError(f"{name}: the file is empty (0 bytes)")
        try:
            frame = pd.read_parquet(io.BytesIO(data))
        except Exception as exc:  # pyarrow raises several error types for corrupt files
            raise SourceFormatError(f"{name}: not a readable Parquet file: {exc}") from exc
        frame[LINE_COL] = pd.RangeIndex(1, len(frame) + 1)
        frame[SOURCE_COL] = name
    else:
        raise SourceFormatError(f"{name}: unsupported file type (use .csv or .parquet)")
    if PARSE_ERROR_COL not in frame:
        frame[PARSE_ERROR_COL] = None
    return frame


def add_snapshot_from_name(frame: pd.DataFrame, name: str, column: str | None) -> pd.DataFrame:
    """Fill a missing snapshot column from the file name's month (:func:`months.month_of`)."""
    if column is None or column in frame.columns:
        return frame
    month = month_of(name)
    if month is not None:
        frame[column] = f"{month}-01"
    return frame


def read_files(
    store: FileStore, event_time: str | None = None
) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """Read and concatenate every file of a store, in name order.

    In a folder of several files, a file that cannot be read at all (empty, header only,
    corrupt) is skipped and returned with the reason, so one bad monthly drop does not stop
    retraining on the others; the landing sensor has already reported it. When every file is
    unreadable, or the source is a single file, the error is raised.

    Returns:
        The raw frame, the names of the files read, and ``{skipped file: reason}``.
    """
    files = store.list_files()
    frames, names, skipped = [], [], {}
    for f in files:
        try:
            frame = read_table(store.read_bytes(f), f.name)
        except SourceFormatError as exc:
            if len(files) == 1:
                raise
            skipped[f.name] = str(exc)
            continue
        frames.append(add_snapshot_from_name(frame, f.name, event_time))
        names.append(f.name)
    if not frames:
        raise SourceFormatError(
            f"{store.description}: no readable file: " + "; ".join(skipped.values())
        )
    raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return raw, names, skipped


@dataclass
class RawLoad:
    """What one read of a source produced."""

    frame: pd.DataFrame
    files: list[str]
    description: str
    skipped: dict[str, str] = field(default_factory=dict)  # unreadable file -> reason


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


def source_version(uri: DataURI, s3_client: Callable[[], Any] | None = None) -> tuple[str, int]:
    """A cheap version of a source (no data read): fingerprint and number of files."""
    if uri.scheme == "sim":
        config = simulator_config(uri)
        return hashlib.sha256(repr(config).encode()).hexdigest()[:16], 0
    files = open_store(uri, s3_client).list_files()
    return fingerprint(files), len(files)


def load_raw(
    uri: DataURI, event_time: str | None = None, s3_client: Callable[[], Any] | None = None
) -> RawLoad:
    """Read a whole source into one raw frame with lineage columns."""
    if uri.scheme == "sim":
        from churn_assets.lib.ingestion.simulator import simulate

        config = simulator_config(uri)
        frame = simulate(config).snapshots
        frame[SOURCE_COL] = "simulator"
        frame[LINE_COL] = pd.RangeIndex(1, len(frame) + 1)
        frame[PARSE_ERROR_COL] = None
        return RawLoad(frame, [], f"simulator {config}")
    store = open_store(uri, s3_client)
    frame, names, skipped = read_files(store, event_time)
    return RawLoad(frame, names, store.description, skipped)
