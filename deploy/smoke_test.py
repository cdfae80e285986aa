#!/usr/bin/env python3
"""Post-deploy smoke test of the churn service: is what was just deployed answering correctly?

    python deploy/smoke_test.py --endpoint https://churn.example.com [--timeout 120]

1. waits until ``GET /readyz`` answers 200 (the model is loaded and warmed up), up to --timeout;
2. checks ``GET /livez``;
3. scores one valid customer with ``POST /predict`` and checks the answer: a churn probability
   in [0, 1] and the model version that answered;
4. posts an invalid customer (a field the contract does not have) and checks that it is refused
   with a 4xx naming the field, not scored;

then prints one JSON summary on stdout. Any failure exits 1 with a message saying what failed.

The valid customer is the example the service publishes in its OpenAPI document (the
``Customer`` schema's example is a real row of the data the served model was trained on, so it
fits whatever contract the model was built from); ``--body FILE`` gives one instead. Standard
library only, so it runs on any CI runner or bastion with a Python 3.9+.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

# A field no data contract has: the service forbids unknown fields, so this is a 4xx whatever
# the contract is.
UNKNOWN_FIELD = "smoke_test_unknown_field"


class SmokeTestError(Exception):
    """A check failed; the message says which and what was seen."""


def _request(url: str, body: Any = None, timeout: float = 10.0) -> tuple[int, str, dict[str, str]]:
    """(status, text, headers) of a GET (no body) or a JSON POST; HTTP errors are answers too."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace"), dict(error.headers or {})


def wait_ready(endpoint: str, timeout_s: float) -> float:
    """Seconds until ``/readyz`` answered 200; raises when the deadline passes first."""
    started = time.monotonic()
    last = "no answer"
    while True:
        try:
            status, text, _ = _request(f"{endpoint}/readyz", timeout=5)
            if status == 200:
                return time.monotonic() - started
            last = f"HTTP {status}: {text[:200]}"
        except (urllib.error.URLError, OSError) as error:  # not listening (yet), DNS, TLS
            last = f"{type(error).__name__}: {getattr(error, 'reason', error)}"
        if time.monotonic() - started >= timeout_s:
            raise SmokeTestError(
                f"{endpoint}/readyz did not answer 200 within {timeout_s:.0f} s (last: {last})"
            )
        time.sleep(1)


def published_example(endpoint: str) -> dict[str, Any]:
    """The valid customer of the service's OpenAPI document (the request model's example)."""
    status, text, _ = _request(f"{endpoint}/docs.json", timeout=10)
    if status != 200:
        raise SmokeTestError(f"GET {endpoint}/docs.json answered HTTP {status}: {text[:200]}")
    document = json.loads(text)
    example = document.get("components", {}).get("schemas", {}).get("Customer", {}).get("example")
    if not isinstance(example, dict) or not example:
        raise SmokeTestError(
            f"{endpoint}/docs.json has no example in components.schemas.Customer: pass a valid "
            "customer with --body FILE"
        )
    return example


def check_prediction(status: int, text: str) -> dict[str, Any]:
    """The checked answer of ``/predict`` for a valid customer."""
    if status != 200:
        raise SmokeTestError(f"POST /predict of a valid customer answered HTTP {status}: {text}")
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as error:
        raise SmokeTestError(f"POST /predict answered non-JSON ({error}): {text[:200]}") from None
    probability = answer.get("churn_probability")
    if isinstance(probability, bool) or not isinstance(probability, (int, float)):
        raise SmokeTestError(f"POST /predict answered no numeric churn_probability: {answer}")
    if not 0.0 <= probability <= 1.0:
        raise SmokeTestError(f"churn_probability {probability} is outside [0, 1]: {answer}")
    version = answer.get("model_version")
    if not isinstance(version, str) or not version:
        raise SmokeTestError(f"POST /predict answered no model_version: {answer}")
    return answer


def check_refusal(status: int, text: str) -> None:
    """An invalid customer must be a 4xx whose message names the offending field."""
    if not 400 <= status < 500:
        raise SmokeTestError(
            f"POST /predict of an invalid customer (unknown field {UNKNOWN_FIELD!r}) answered "
            f"HTTP {status}, not 4xx: {text[:300]}"
        )
    if UNKNOWN_FIELD not in text:
        raise SmokeTestError(
            f"POST /predict refused the invalid customer with HTTP {status} but the message "
            f"does not name the field {UNKNOWN_FIELD!r}: {text[:300]}"
        )


def run(endpoint: str, timeout_s: float, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every check, in order; the summary. Raises SmokeTestError at the first failure."""
    endpoint = endpoint.rstrip("/")
    ready_after = wait_ready(endpoint, timeout_s)

    try:
        status, text, _ = _request(f"{endpoint}/livez", timeout=5)
    except (urllib.error.URLError, OSError) as error:
        raise SmokeTestError(f"GET {endpoint}/livez failed: {error}") from None
    if status != 200:
        raise SmokeTestError(f"GET {endpoint}/livez answered HTTP {status}: {text[:200]}")

    customer = body if body is not None else published_example(endpoint)
    started = time.perf_counter()
    status, text, _ = _request(f"{endpoint}/predict", customer, timeout=30)
    latency_ms = (time.perf_counter() - started) * 1000
    answer = check_prediction(status, text)

    invalid = {**customer, UNKNOWN_FIELD: 1}
    refused_status, refused_text, _ = _request(f"{endpoint}/predict", invalid, timeout=30)
    check_refusal(refused_status, refused_text)

    return {
        "ok": True,
        "endpoint": endpoint,
        "ready_after_s": round(ready_after, 2),
        "model_name": answer.get("model_name"),
        "model_version": answer["model_version"],
        "churn_probability": answer["churn_probability"],
        "risk_tier": answer.get("risk_tier"),
        "predict_latency_ms": round(latency_ms, 1),
        "invalid_request_status": refused_status,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", required=True, help="base URL, e.g. http://churn-service")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for /readyz (default 120)"
    )
    parser.add_argument("--body", help="a JSON file with one valid customer (default: the example)")
    args = parser.parse_args(argv)
    try:
        body = None
        if args.body:
            with open(args.body, encoding="utf-8") as handle:
                body = json.load(handle)
        summary = run(args.endpoint, args.timeout, body)
    except (SmokeTestError, OSError, ValueError) as error:
        sys.stderr.write(f"smoke test FAILED: {error}\n")
        sys.stdout.write(json.dumps({"ok": False, "endpoint": args.endpoint, "error": str(error)}))
        sys.stdout.write("\n")
        return 1
    sys.stdout.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
