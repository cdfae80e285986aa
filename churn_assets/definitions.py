"""The Dagster code location: every definition under ``churn_assets/defs``."""

from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Load the assets, checks, jobs and resources of every domain folder."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
