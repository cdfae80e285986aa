"""The split policy, declared once: the ``split_customers`` config class is built from it
(``class SplitConfig(dg.Config, SplitPolicy)``) and ``split.split_frame`` takes its defaults
from it, so a default lives here and nowhere else.

Import-light on purpose (pydantic only): the definitions import it when they load.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

SplitStrategy = Literal["stratified", "time"]


class SplitPolicy(BaseModel):
    """How to split the feature table into train, validation and test."""

    strategy: SplitStrategy = Field(
        "stratified",
        description="stratified: whole customers by churn label; time: last two snapshots held out",
    )
    validation_size: float = Field(0.2, description="share of customers for validation")
    test_size: float = Field(0.2, description="share of customers for the held-out test")
    seed: int = Field(42, description="seed of the stratified assignment")
