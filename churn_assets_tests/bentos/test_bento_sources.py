"""The bento ships exactly the modules the service imports.

A bento is built from the real ``bentofile.yaml`` (``packaging.build_bento``, as the
``churn_bento`` asset does); then, in a subprocess, the service is imported from the bento's
own ``src`` folder with the repository off ``sys.path`` and every path that imports lazily
is run (scoring, the SHAP explainer, and a model of every registered family through the
service's own loading code). The ``churn_assets`` and ``bentos`` modules it loaded must be
exactly the files the include globs put into the bento: a module missing from the globs
fails to import there, and a file the service never imports (a data file too: the contract
the service reads is the model's own copy) fails the comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sklearn.pipeline import Pipeline

from churn_assets.lib.contract import DataContract
from churn_assets.lib.features.preprocessing import build_preprocessor
from churn_assets.lib.ingestion.simulator import SimulatorConfig, simulate
from churn_assets.lib.serving.bundle import ModelSlot, ServingMeta, example_record, write_bundle
from churn_assets.lib.serving.packaging import bentoml_env, build_bento
from churn_assets.lib.training.families import FAMILIES

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("service_imports.py")
OURS = ("churn_assets", "bentos")


def _estimators() -> dict[str, Callable[[], Any]]:
    """A small estimator of each family (what the scorer compiles, not a tuned model)."""
    from lightgbm import LGBMClassifier
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from xgboost import XGBClassifier

    return {
        "logreg": lambda: LogisticRegression(max_iter=500),
        "random_forest": lambda: RandomForestClassifier(n_estimators=10, max_depth=4),
        "xgboost": lambda: XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1),
        "lightgbm": lambda: LGBMClassifier(n_estimators=10, num_leaves=7, n_jobs=1, verbose=-1),
    }


def _bundle(folder: Path, contract: DataContract, models: dict[str, Any], rows: Any, **slots):
    made = {
        role: ModelSlot(str(i + 1), family, threshold=0.3, calibration="none")
        for i, (role, family) in enumerate(slots.items())
    }
    columns = [contract.id_column, *contract.feature_columns]
    meta = ServingMeta(
        model_name="churn-model",
        champion=made["champion"],
        shadow=made.get("shadow"),
        contract_name=contract.name,
        medium_threshold=0.15,
        example=example_record(rows, contract),
    )
    shadow = models[slots["shadow"]] if "shadow" in slots else None
    background = rows[columns].head(50).reset_index(drop=True)
    write_bundle(folder, meta, contract.path, models[slots["champion"]], shadow, background)
    return folder


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory, contract: DataContract) -> dict[str, Any]:
    """Build the bento, import its service from its own sources, and report what loaded."""
    work = tmp_path_factory.mktemp("bento-sources")
    home = work / "home"
    # Clean simulated rows (dirty_rate 0); the preprocessor imputes the nulls they have.
    config = SimulatorConfig(n_customers=400, months=1, seed=5, dirty_rate=0.0)
    rows = simulate(config).snapshots.reset_index(drop=True)
    y = contract.target.encode(rows[contract.target.column])
    estimators = _estimators()
    missing = set(FAMILIES) - set(estimators)
    assert not missing, f"add a small estimator of {sorted(missing)} to _estimators()"
    models = {
        family: Pipeline(
            [("preprocess", build_preprocessor(contract)), ("model", estimators[family]())]
        ).fit(rows[contract.feature_columns], y)
        for family in FAMILIES
    }
    # The stacked ensemble is served by its own scorer (lib/serving/ensemble_scorer.py).
    from churn_assets.lib.serving.ensemble_scorer import ENSEMBLE, StackedEnsemble

    models[ENSEMBLE] = StackedEnsemble([(f, models[f]) for f in FAMILIES[:2]], [0.5, 0.5], 0.0)
    served = _bundle(work / "served", contract, models, rows, champion=FAMILIES[0])
    others = [
        _bundle(work / family, contract, models, rows, champion=family)
        for family in (*FAMILIES, ENSEMBLE)
    ]
    build = build_bento(served, home)
    src = Path(build.bento_path) / "src"
    env = {
        **bentoml_env(home),
        "CHURN_BENTO_MODEL": build.model_tag,
        "CHURN_PREDICTION_LOG_DIR": str(work / "predictions"),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(src), *map(str, others)],
        cwd=src,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"the service does not run from the bento:\n{done.stderr[-4000:]}"
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    return {"src": src, "loaded": loaded}


def test_every_module_the_service_imports_comes_from_the_bento(imported: dict[str, Any]) -> None:
    src = imported["src"]
    outside = {n: f for n, f in imported["loaded"].items() if not Path(f).is_relative_to(src)}
    assert not outside, f"imported from outside the bento: {outside}"


def test_the_bento_ships_only_what_the_service_imports(imported: dict[str, Any]) -> None:
    src = imported["src"]
    loaded = {Path(f).relative_to(src).as_posix() for f in imported["loaded"].values()}
    shipped = {
        p.relative_to(src).as_posix()
        for pkg in OURS
        for p in (src / pkg).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    never_imported = sorted(shipped - loaded)
    assert not never_imported, (
        f"bentofile.yaml includes modules the service never imports: {never_imported}; "
        f"the service imports exactly: {sorted(loaded)}"
    )
    assert shipped == loaded
