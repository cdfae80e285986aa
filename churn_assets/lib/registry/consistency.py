"""Do the registry and the served bento agree? What each place says the champion is, and what
to do when they differ.

Four places name the champion: the registry's ``@champion`` (batch scoring and drift follow
it), the bento export a serving host imports (``latest.json`` in the storage), the builder's
``churn_service:latest`` (what ``make serve`` runs) and ``churn_bento``'s last
materialization (what ``retrain_sensor`` counts months against). ``churn_bento`` moves
``@champion`` only after the other two, so they disagree only while a move is pending (its
build failed or was killed) or when a step died between the alias move and the Dagster event.
Every such state is mended by materializing ``churn_bento`` again (job ``deploy_champion``),
which is what the messages here say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIX = "materialize churn_bento (job deploy_champion)"


@dataclass(frozen=True)
class ServedState:
    """What each place says the champion is (None: the place has nothing yet)."""

    registry: str | None
    pending: Any = None  # aliases.PendingMove
    published: str | None = None  # latest.json's champion_version
    published_tag: str | None = None
    local: str | None = None  # the builder's churn_service:latest champion_version
    local_tag: str | None = None
    materialized: str | None = None  # churn_bento's last materialization
    problems: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems

    @property
    def key(self) -> str:
        """One string per distinct state (an alert is sent once per key)."""
        pending = self.pending.version if self.pending is not None else None
        return json.dumps(
            [self.registry, pending, self.published_tag, self.local_tag, self.materialized]
        )

    def summary(self) -> str:
        if self.consistent:
            return f"registry @champion v{self.registry} is what every place serves"
        return " | ".join(self.problems)


def local_latest(bentoml_home: Path, name: str = "churn_service") -> tuple[str | None, str | None]:
    """The builder's ``<name>:latest``: (its champion_version label, its tag), read from the
    store's files (no BentoML import: the sensor's process must stay light)."""
    import yaml

    folder = bentoml_home / "bentos" / name
    try:
        version = (folder / "latest").read_text().strip()
        info = yaml.safe_load((folder / version / "bento.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None, None
    champion = (info.get("labels") or {}).get("champion_version")
    return (str(champion) if champion is not None else None), f"{name}:{version}"


def published(folder: Any) -> tuple[str | None, str | None]:
    """The published ``latest.json``: (champion_version, bento_tag), Nones before the first."""
    from churn_assets.lib.serving.bento_store import BentoStoreError, latest

    try:
        pointer = latest(folder)
    except (BentoStoreError, OSError, ValueError):
        return None, None
    champion = pointer.get("champion_version")
    return (str(champion) if champion is not None else None), pointer.get("bento_tag")


def check(
    name: str,
    publish_folder: Any = None,
    bentoml_home: Path | None = None,
    materialized: str | None = None,
) -> ServedState:
    """Compare the places (those given) with the registry; problems say how to mend them."""
    from churn_assets.lib.registry import aliases

    champion = aliases.version_by_alias(name, aliases.CHAMPION)
    registry = str(champion.version) if champion is not None else None
    pending = aliases.pending_move(name)
    pub, pub_tag = published(publish_folder) if publish_folder is not None else (None, None)
    loc, loc_tag = local_latest(bentoml_home) if bentoml_home is not None else (None, None)
    problems = []
    if pending is not None:
        problems.append(
            f"a {pending.kind} to v{pending.version} requested at {pending.requested_at} by "
            f"{pending.actor} is not completed: its bento was not built or published, so "
            f"@champion is still v{registry or 'none'}; {FIX}: it builds and publishes "
            f"v{pending.version}, then moves @champion (if the build fails again, its step "
            "log says why)"
        )
    for place, value, tag in (
        ("the published bento (latest.json)", pub, pub_tag),
        ("the builder's churn_service:latest", loc, loc_tag),
        ("churn_bento's last materialization (read by retrain_sensor)", materialized, None),
    ):
        if value is not None and value != registry:
            problems.append(
                f"{place} serves v{value}{f' ({tag})' if tag else ''} but the registry's "
                f"@champion is v{registry or 'none'}; {FIX} to rebuild and publish "
                f"v{registry}, or run rollback_champion"
            )
    return ServedState(registry, pending, pub, pub_tag, loc, loc_tag, materialized, problems)
