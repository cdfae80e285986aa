"""Capture a web page (e.g. the Dagster UI) as a PNG with headless Chromium.

Used for the images in docs/images/. Start the UI first (`make ui`), then for example:

    python docs/tools/screenshot.py --url http://127.0.0.1:3000/asset-groups \\
        --out docs/images/asset_graph.png --width 1600 --height 1000 --wait 15

Needs Debian's `chromium` package (`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_CHROMIUM = "/usr/bin/chromium"


def find_chromium(explicit: str | None) -> str:
    for candidate in (explicit, DEFAULT_CHROMIUM, "chromium", "chromium-browser"):
        if candidate and (Path(candidate).is_file() or shutil.which(candidate)):
            return shutil.which(candidate) or candidate
    sys.exit("chromium not found: install it with `apt-get update && apt-get install -y chromium`")


def screenshot(
    url: str,
    out: Path,
    width: int,
    height: int,
    wait_s: float,
    chromium: str,
    timeout_s: float,
) -> None:
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        command = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            # Virtual time lets the page's scripts and timers run this long before the capture.
            f"--virtual-time-budget={int(wait_s * 1000)}",
            f"--screenshot={out}",
            url,
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    if result.returncode != 0 or not out.is_file():
        sys.stderr.write(result.stderr[-4000:])
        sys.exit(f"chromium failed (exit {result.returncode}); no screenshot at {out}")
    print(f"{out} ({out.stat().st_size // 1024} KiB)")  # noqa: T201


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="page to capture")
    parser.add_argument("--out", required=True, type=Path, help="PNG file to write")
    parser.add_argument("--width", type=int, default=1600, help="window width in pixels")
    parser.add_argument("--height", type=int, default=1000, help="window height in pixels")
    parser.add_argument(
        "--wait", type=float, default=10.0, help="seconds of page time before the capture"
    )
    parser.add_argument("--chromium", default=None, help=f"browser binary ({DEFAULT_CHROMIUM})")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds before giving up on chromium"
    )
    args = parser.parse_args(argv)
    screenshot(
        args.url,
        args.out,
        args.width,
        args.height,
        args.wait,
        find_chromium(args.chromium),
        args.timeout,
    )


if __name__ == "__main__":
    main()
