"""Run by ``test_bento_sources.py`` with a built bento's ``src`` folder as the working
directory: import the service from the bento's own files (the repository taken off
``sys.path``, so a module the bento lacks fails to import), run every path that imports
lazily, and print the ``churn_assets`` and ``bentos`` modules loaded, as one JSON object of
module name -> file.

Usage: ``python service_imports.py <bento src> <bundle folder>...``: besides the bento's own
model, each bundle folder's champion is loaded, scored and explained through the service's
own code, so every model family's modules are imported as they would be when serving it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

OURS = ("churn_assets", "bentos")


def _only_bento_sources(src: Path) -> None:
    """``src`` first on ``sys.path``, and no other folder holding our packages (the editable
    install puts the repository there)."""
    others = [
        p
        for p in sys.path
        if Path(p or ".").resolve() != src and any((Path(p or ".") / pkg).is_dir() for pkg in OURS)
    ]
    sys.path[:] = [str(src), *(p for p in sys.path if p not in others)]


def _exercise(service_module: object, svc: object, example: dict) -> None:
    """Score one customer, a batch of two and explain one, as the endpoints do."""
    customer = service_module.Customer(**example)  # type: ignore[attr-defined]
    asyncio.run(svc.predict(customer))  # type: ignore[attr-defined]
    svc.predict_batch([customer, customer])  # type: ignore[attr-defined]
    svc.explain([customer], top_k=2)  # type: ignore[attr-defined]


def main(src: Path, bundles: list[Path]) -> None:
    _only_bento_sources(src)
    from bentos.churn_service import service

    svc = service.ChurnService()
    deadline = time.monotonic() + 300
    while svc._explainer is None and svc._explainer_error is None:
        if time.monotonic() > deadline:
            raise TimeoutError("the explainer did not load")
        time.sleep(0.2)
    if svc._explainer_error:
        raise RuntimeError(svc._explainer_error)
    example = service._META.example
    _exercise(service, svc, example)
    for folder in bundles:
        # The service's own loading code, with another bundle's champion.
        svc.predictor, _ = service.load_predictor(folder, contract=service._CONTRACT)
        svc._load_explainer()
        if svc._explainer_error:
            raise RuntimeError(f"{folder.name}: {svc._explainer_error}")
        _exercise(service, svc, example)
    loaded = {
        name: module.__file__
        for name, module in sorted(sys.modules.items())
        if name.split(".")[0] in OURS and getattr(module, "__file__", None)
    }
    sys.stdout.write(json.dumps(loaded) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), [Path(p).resolve() for p in sys.argv[2:]])
