"""Durable Optuna studies: where they are stored, how they are named, how they are opened.

Studies are stored durably (an Optuna journal file by default, or any RDB URL), named by
family and training-data version, so an interrupted search resumes where it stopped and
several processes can work on one study at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Bump when a search space changes: studies of another version are not resumed.
SEARCH_SPACE_VERSION = "1"


def study_storage(url: str | None, home: Path) -> Any:
    """The Optuna storage for a URL, or a journal file under ``home`` by default.

    The journal file backend supports several processes on one study (file locks) and
    survives crashes; an RDB URL (``postgresql://...``, ``sqlite:///...``) shares a study
    across machines. SQLite is fine for one process and fragile with several writers.
    """
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    if url:
        return url
    folder = home / "optuna"
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / "studies.journal")
    # The open-lock works on any filesystem (the default symlink lock does not on some).
    backend = JournalFileBackend(path, lock_obj=JournalFileOpenLock(path))
    return JournalStorage(backend)


def study_name(family: str, data_version: str) -> str:
    """A study is specific to a family, the training data and the search-space version."""
    return f"churn-{family}-v{SEARCH_SPACE_VERSION}-{data_version}"


def open_study(storage: Any, name: str, seed: int) -> Any:
    """Create or resume a study (TPE with a seed, median pruning over CV folds)."""
    import optuna

    return optuna.create_study(
        storage=storage,
        study_name=name,
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=5),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
        load_if_exists=True,
    )
