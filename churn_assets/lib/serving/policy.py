"""The bento's packaging policy, declared once: ``churn_bento``'s config class is built from it
(``class BentoConfig(dg.Config, BentoPolicy)``) and ``packaging.package_champion`` takes it,
so a default lives here and nowhere else.

Import-light on purpose (pydantic only): the definitions import it when they load.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from churn_assets.lib import settings


class BentoPolicy(BaseModel):
    """What goes into the bento besides the champion, and how traffic is split."""

    shadow: bool = Field(
        True, description="also package @challenger (when it is another version) in shadow"
    )
    shadow_share: float = Field(1.0, description="share of requests the shadow also scores")
    ab_share: float = Field(
        0.0, description="share of customers answered by the challenger (A/B); 0 = shadow only"
    )
    medium_fraction: float = Field(
        settings.MEDIUM_RISK_FRACTION,
        description="the medium risk tier starts at this fraction of the threshold",
    )
