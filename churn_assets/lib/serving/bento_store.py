"""Built bentos in the storage (a bucket), so the serving host needs no disk of the builder's.

The ``churn_bento`` step exports each bento as one archive (``bentoml export``) to
``<CHURN_STORAGE_URI>/bentos/<name>-<version>.bento`` and points ``latest.json`` at it. A
serving host (a VM, a CI job that containerizes, a pod's init step) then runs::

    python -m churn_assets.lib.serving.bento_store import            # the latest
    python -m churn_assets.lib.serving.bento_store import --uri s3://.../churn_service-v3.bento

which downloads the archive and imports it into that host's ``BENTOML_HOME`` (``bentoml
import``), after which ``bentoml serve churn_service:<version>`` or ``bentoml containerize``
work as on the builder. Download and upload go through fsspec, so any store the IO manager
reaches works, with no BentoML storage extra.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

LATEST = "latest.json"


class BentoStoreError(RuntimeError):
    """Nothing to import (no bento published yet, or the archive is missing)."""


def _local_path(path: Any) -> str | None:
    """The local file system path of ``path``, None for an object store."""
    protocol = getattr(path, "protocol", "")
    if protocol == "":
        return str(path)
    return str(path.path) if protocol in ("file", "local") else None


def _write(target: Any, write: Any) -> None:
    """Write ``target`` whole or not at all: on a local disk through a ``.partial`` file
    renamed into place (a killed copy leaves no truncated archive or pointer under the real
    name); an object store creates the object only when the upload completes."""
    local = _local_path(target)
    if local is None:
        with target.open("wb") as out:
            write(out)
        return
    with open(local + ".partial", "wb") as out:
        write(out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(local + ".partial", local)


def publish(archive: Path, folder: Any, build: Any) -> str:
    """Upload ``archive`` (of ``build``) into ``folder`` and point ``latest.json`` at it; its URI.

    The archive is written before the pointer, each whole or not at all (:func:`_write`), so
    a reader never finds a pointer to a missing or half-written archive.
    """
    name, version = build.bento_tag.split(":", 1)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-{version}.bento"

    def copy(out: Any) -> None:
        with archive.open("rb") as source:
            while chunk := source.read(8 << 20):
                out.write(chunk)

    _write(target, copy)
    pointer = {
        "bento_tag": build.bento_tag,
        "uri": str(target),
        "champion_version": build.champion_version,
        "shadow_version": build.shadow_version,
        "size_bytes": archive.stat().st_size,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    text = json.dumps(pointer, indent=2).encode()
    _write(folder / LATEST, lambda out: out.write(text))
    return str(target)


def latest(folder: Any) -> dict[str, Any]:
    """The pointer of the newest published bento.

    Raises:
        BentoStoreError: when nothing was published to ``folder``.
    """
    pointer = folder / LATEST
    if not pointer.exists():
        raise BentoStoreError(
            f"no bento published under {folder}: materialize churn_bento (with the same "
            "CHURN_STORAGE_URI) first"
        )
    return json.loads(pointer.read_text())


def tag_of(uri: str) -> str:
    """The bento tag an archive published by :func:`publish` holds (``<name>-<version>``)."""
    name, version = Path(uri).name.removesuffix(".bento").split("-", 1)
    return f"{name}:{version}"


def fetch(uri: str) -> str:
    """Import the archive at ``uri`` into this process's ``BENTOML_HOME``; the bento tag.
    Idempotent: a bento already in the store is kept (a restarted pod, a re-run CD job).

    Run it in a process whose ``BENTOML_HOME`` is set before BentoML is imported (the CLI
    below is such a process).
    """
    import bentoml
    from bentoml.exceptions import NotFound
    from upath import UPath

    source = UPath(uri)
    if not source.exists():
        raise BentoStoreError(f"{uri} does not exist (was it published from another storage?)")
    try:
        return str(bentoml.get(tag_of(uri)).tag)
    except NotFound:
        pass
    with tempfile.TemporaryDirectory(prefix="churn-bento-") as folder:
        local = Path(folder) / source.name
        with source.open("rb") as src, local.open("wb") as out:
            while chunk := src.read(8 << 20):
                out.write(chunk)
        bento = bentoml.bentos.import_bento(str(local))
    return str(bento.tag)


def main(argv: list[str] | None = None) -> None:
    from churn_assets.lib import settings

    parser = argparse.ArgumentParser(
        prog="python -m churn_assets.lib.serving.bento_store", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["import", "latest"])
    parser.add_argument("--uri", help="an archive's URI; default: the latest published one")
    args = parser.parse_args(argv)
    folder = settings.storage_location("bentos")
    try:
        if args.command == "latest":
            sys.stdout.write(json.dumps(latest(folder)) + "\n")
            return
        if "BENTOML_HOME" not in os.environ:
            parser.error("set BENTOML_HOME: the store the bento is imported into")
        tag = fetch(args.uri or latest(folder)["uri"])
    except BentoStoreError as exc:
        parser.exit(1, f"error: {exc}\n")
    sys.stdout.write(json.dumps({"bento_tag": tag}) + "\n")


if __name__ == "__main__":
    main()
