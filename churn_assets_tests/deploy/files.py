"""The deployment files under test, and the offline validators they are checked with."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
HELM_VALUES = DEPLOY / "helm" / "values.yaml"
SERVICE_MANIFESTS = DEPLOY / "k8s" / "churn-service"
EXPORTER_MANIFESTS = DEPLOY / "k8s" / "monitoring-exporter"
PROMETHEUS = DEPLOY / "prometheus" / "scrape.yaml"
SMOKE_TEST = DEPLOY / "smoke_test.py"
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
# The oldest Kubernetes the manifests are meant for, and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30", "latest")


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def load_docs(path: Path) -> list[dict[str, Any]]:
    """Every YAML document of a (multi-document) manifest file."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def k8s_validate(doc: dict[str, Any], version: str) -> str:
    """Validate one object strictly (unknown fields are errors); the version used."""
    from kubernetes_validate import utils

    if version == "latest":
        version = utils.latest_version()
    return utils.validate(doc, version, strict=True)


@cache
def k8s_definitions(version: str = "1.30") -> dict[str, Any]:
    """The Kubernetes OpenAPI definitions kubernetes-validate bundles (strict variant: unknown
    fields are errors), under ``$defs`` and also under ``definitions``, the pointer older
    schemas (the Dagster chart's) use."""
    import kubernetes_validate

    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    document = json.loads((folder / f"v{version}.0-local-strict" / "_definitions.json").read_text())
    document.pop("$id", None)
    return {**document, "definitions": document["$defs"]}


def k8s_validator(definition: str, version: str = "1.30") -> Any:
    """A validator of one Kubernetes type, e.g. ``io.k8s.api.core.v1.EnvVar``."""
    import jsonschema
    from referencing import Registry, Resource

    uri = "urn:k8s-definitions"
    registry = Registry().with_resource(uri, Resource.from_contents(k8s_definitions(version)))
    schema = {"$ref": f"{uri}#/$defs/{definition}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def dockerignore_patterns() -> list[re.Pattern[str]]:
    """The build context's exclusions, as Docker matches them (Go filepath.Match plus ``**``)."""
    patterns = []
    for line in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        assert not line.startswith("!"), "exceptions are not modelled here"
        regex, i, pattern = "", 0, line.strip("/")
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        patterns.append(re.compile(regex + r"\Z"))
    return patterns


def build_context() -> set[str]:
    """The files ``docker build .`` sends: the repository minus what .dockerignore excludes
    (an excluded folder excludes everything under it)."""
    patterns = dockerignore_patterns()

    def ignored(relative: str) -> bool:
        parts = relative.split("/")
        prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
        return any(p.match(prefix) for p in patterns for prefix in prefixes)

    kept: set[str] = set()
    stack = [REPO_ROOT]
    while stack:
        folder = stack.pop()
        for entry in folder.iterdir():
            relative = entry.relative_to(REPO_ROOT).as_posix()
            if ignored(relative):
                continue
            if entry.is_dir():
                stack.append(entry)
            else:
                kept.add(relative)
    return kept
