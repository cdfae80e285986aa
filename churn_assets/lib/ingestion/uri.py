"""The data source URI (``CHURN_DATA_URI``) and the simulator configuration a ``sim://`` asks for.

* ``sim://default`` or ``sim://?customers=5000&months=6&seed=42&dirty_rate=0.005`` -- the
  built-in simulator (drift knobs: ``drift_start``, ``price_rise``, ``month_to_month_shift``,
  ``concept_shift``);
* a local path (``data/telco.csv``, ``/data/landing/``, ``file:///data/x.parquet``) -- one
  CSV/Parquet file, or a folder of them read in name order (monthly files);
* ``s3://bucket/prefix`` -- every ``.csv``/``.parquet`` object under the prefix;
* a SQLAlchemy database URL with ``table=`` or ``query_file=``
  (``postgresql://analyst@db:5432/crm?table=customers``) -- a table or query, read in chunks
  (:mod:`.sql`).

Import-light (no pandas): the definitions parse the URI when a resource asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlparse

from churn_assets.lib.ingestion.errors import SourceError

if TYPE_CHECKING:
    from churn_assets.lib.ingestion.simulator import SimulatorConfig


DEFAULT_DATA_URI = "sim://default"


@dataclass(frozen=True)
class DataURI:
    """A parsed ``CHURN_DATA_URI``."""

    scheme: str  # "sim", "file", "s3" or "sql"
    location: str  # local path, "bucket/prefix", or the database URL (driver options kept)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """The URI as logs, metadata and reports may show it (a database password hidden)."""
        if self.scheme == "sql":
            from churn_assets.lib.ingestion.sql import display_url

            query = "&".join(f"{k}={v}" for k, v in self.params.items())
            shown = display_url(self.location)
            return shown + (("&" if "?" in shown else "?") + query if query else "")
        if self.scheme == "s3":
            return f"s3://{self.location}"
        if self.scheme == "sim":
            query = "&".join(f"{k}={v}" for k, v in self.params.items())
            where = "" if query and self.location == "default" else self.location
            return f"sim://{where}" + (f"?{query}" if query else "")
        return self.location

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
    from churn_assets.lib.ingestion.sql import is_sql_url

    if is_sql_url(uri):
        return _sql_uri(uri)
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
            f"{uri!r}: unsupported scheme {parsed.scheme!r}; use sim://, s3://, a local path "
            "or a database URL (postgresql://…?table=customers)"
        )
    return DataURI("file", uri)


def _sql_uri(uri: str) -> DataURI:
    """A database URL: the platform's parameters (``sql.OWN_PARAMS``) taken off the query,
    the driver's left on the URL."""
    from urllib.parse import urlencode

    from churn_assets.lib.ingestion.sql import OWN_PARAMS

    # Split by hand: urlunsplit would turn sqlite:////abs/path.db into sqlite://abs/path.db.
    base, _, query = uri.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    own = {k: v for k, v in pairs if k in OWN_PARAMS}
    driver = urlencode([(k, v) for k, v in pairs if k not in OWN_PARAMS])
    return DataURI("sql", base + (f"?{driver}" if driver else ""), own)


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
    # Lazy: the simulator needs pandas, and parsing a URI must not.
    from churn_assets.lib.ingestion.simulator import DriftSpec, SimulatorConfig

    merged = {**DEMO_SIMULATION_OVERRIDES, **kwargs}
    if drift:
        drift.setdefault("start_month", 0)
        merged["drift"] = DriftSpec(**drift)
    return SimulatorConfig(**merged)
