"""Helpers of the alerting tests: a real local webhook server, an alert, Block Kit limits."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from churn_assets.lib.notify import Alert


class Webhook:
    """A real HTTP server on 127.0.0.1 answering POSTs with scripted status codes."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # consumed per request; 200 once empty
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append(
                    {"body": body, "content_type": self.headers.get("Content-Type")}
                )
                if hook.delay:
                    time.sleep(hook.delay)
                status = hook.statuses.pop(0) if hook.statuses else 200
                payload = b"ok" if status == 200 else b"error"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client timed out and went away
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/secret"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_alert(severity: str = "critical", n_fields: int = 3, **kwargs: Any) -> Alert:
    fields = {f"field_{i:02d}": f"value {i}" for i in range(n_fields)}
    defaults: dict[str, Any] = {
        "kind": "drift_breach",
        "severity": severity,
        "title": "Drift breach in batch 2026-05",
        "text": "42% of feature columns drifted (threshold 30%) & <tenure> moved.",
        "fields": fields,
        "url": "http://localhost:3000/runs/abc",
    }
    defaults.update(kwargs)
    return Alert(**defaults)


def assert_valid_block_kit(payload: dict[str, Any]) -> None:
    """Slack incoming-webhook limits that would make Slack answer 400."""
    assert isinstance(payload["text"], str) and payload["text"]
    blocks = payload["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        assert block["type"] in {"header", "section", "context", "divider"}
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            if "fields" in block:
                assert 1 <= len(block["fields"]) <= 10
                for item in block["fields"]:
                    assert item["type"] in {"mrkdwn", "plain_text"}
                    assert 0 < len(item["text"]) <= 2000
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
