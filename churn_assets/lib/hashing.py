"""Content hashes of tables, used as Dagster data versions."""

from __future__ import annotations

import hashlib

import pandas as pd


def frame_hash(frame: pd.DataFrame) -> str:
    """A short hash of a table's values and column names (row order matters, index does not).

    Two materializations with identical content get the same hash, so Dagster sees an
    unchanged data version and does not mark downstream assets stale.
    """
    digest = hashlib.sha256()
    digest.update("\0".join(map(str, frame.columns)).encode())
    digest.update("\0".join(map(str, frame.dtypes)).encode())
    if len(frame):
        rows = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest.update(rows.tobytes())
    return digest.hexdigest()[:16]
