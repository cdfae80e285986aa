"""Capture a web page (e.g. the Dagster UI) as a PNG with headless Chromium.

Used for the images in docs/images/. After `make demo`, start the UI (`make ui`), then:

    python docs/tools/screenshot.py --dagster-skip-nux --width 2400 --height 1300 --wait 15 \\
        --crop 600,150,2340,1030 --out docs/images/asset_graph.png \\
        --url 'http://127.0.0.1:3000/asset-groups?expanded=global%40global%3Aingestion%2Cglobal%40global%3Afeatures%2Cglobal%40global%3Aexploration'
    python docs/tools/screenshot.py --width 1600 --height 1150 --wait 15 \\
        --out docs/images/asset_checks.png \\
        --url 'http://127.0.0.1:3000/assets/validated_customers?view=checks&checkDetail=rejected_share_within_limit'

`expanded=` opens the groups of the global lineage view (ids `global@global:<group>`); without
it every group is drawn collapsed. At 2400x1300 the graph is zoomed in far enough that nodes
show their check and materialization status; narrower windows draw bare, truncated names.

Needs Debian's `chromium` package (`apt-get install -y chromium`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

DEFAULT_CHROMIUM = "/usr/bin/chromium"


def find_chromium(explicit: str | None) -> str:
    for candidate in (explicit, DEFAULT_CHROMIUM, "chromium", "chromium-browser"):
        if candidate and (Path(candidate).is_file() or shutil.which(candidate)):
            return shutil.which(candidate) or candidate
    sys.exit("chromium not found: install it with `apt-get update && apt-get install -y chromium`")


def skip_dagster_nux(url: str) -> None:
    """Dismiss the Dagster UI's "Join the Dagster community" dialog, as its Skip button does.

    The UI shows that dialog over every page served from localhost/127.0.0.1 until someone
    dismisses it; a fresh browser profile cannot have done so. `setNuxSeen` records the
    dismissal in the instance ($DAGSTER_HOME/.nux/nux.yaml).
    """
    parts = urllib.parse.urlsplit(url)
    endpoint = f"{parts.scheme}://{parts.netloc}/graphql"
    request = urllib.request.Request(
        endpoint,
        data=json.dumps({"query": "mutation { setNuxSeen }"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.load(response)
    if body.get("errors"):
        sys.exit(f"setNuxSeen failed at {endpoint}: {body['errors']}")


def screenshot(
    url: str,
    out: Path,
    width: int,
    height: int,
    wait_s: float,
    chromium: str,
    timeout_s: float,
    crop: tuple[int, int, int, int] | None = None,
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
    if crop:
        from PIL import Image  # Pillow comes with matplotlib, a project dependency

        with Image.open(out) as image:
            cropped = image.crop(crop)
        cropped.save(out, optimize=True)
    print(f"{out} ({out.stat().st_size // 1024} KiB)")  # noqa: T201


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        left, top, right, bottom = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("expected LEFT,TOP,RIGHT,BOTTOM in pixels") from exc
    if right <= left or bottom <= top:
        raise argparse.ArgumentTypeError("RIGHT must exceed LEFT and BOTTOM must exceed TOP")
    return left, top, right, bottom


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
    parser.add_argument(
        "--crop",
        type=parse_box,
        default=None,
        metavar="LEFT,TOP,RIGHT,BOTTOM",
        help="keep only this box of the window (pixels; needs Pillow)",
    )
    parser.add_argument(
        "--dagster-skip-nux",
        action="store_true",
        help="first dismiss the Dagster UI's community sign-up dialog (setNuxSeen mutation)",
    )
    args = parser.parse_args(argv)
    if args.dagster_skip_nux:
        skip_dagster_nux(args.url)
    screenshot(
        args.url,
        args.out,
        args.width,
        args.height,
        args.wait,
        find_chromium(args.chromium),
        args.timeout,
        args.crop,
    )


if __name__ == "__main__":
    main()
