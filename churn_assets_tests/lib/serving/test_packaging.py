"""Packaging refuses a traffic split it cannot serve before touching the registry."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from churn_assets.lib.contract import DataContract
from churn_assets.lib.serving.packaging import PackagingError, package_champion
from churn_assets.lib.serving.policy import BentoPolicy


@pytest.mark.parametrize("split", [{"shadow_share": 1.5}, {"ab_share": -0.1}])
def test_shares_outside_zero_one_are_refused(
    split: dict[str, float], churn_home: Path, contract: DataContract
) -> None:
    with pytest.raises(PackagingError, match=r"must be in \[0, 1\]"):
        package_champion(churn_home, "churn-model", contract, pd.DataFrame(), BentoPolicy(**split))
