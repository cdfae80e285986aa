"""The stack's process handling: idempotent starts, stops by pid file from another process,
stale pid files, and a service that dies while starting named with its log."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from churn_assets.team.services import Service, ServiceError, free_port, http_ok
from churn_assets.team.stack import TeamStack


def http_server(tmp_path: Path, port: int, command: list[str] | None = None) -> Service:
    return Service(
        "s3",
        command or [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        dict(os.environ),
        tmp_path / "run",
        tmp_path / "logs",
        healthy=lambda: http_ok(f"http://127.0.0.1:{port}/"),
        cwd=tmp_path,
        start_timeout=30,
        port=port,
    )


def test_start_is_idempotent_and_stop_works_from_a_fresh_handle(tmp_path: Path) -> None:
    port = free_port()
    service = http_server(tmp_path, port)
    assert service.start() is True
    pid = service.pid()
    assert service.start() is False and service.pid() == pid  # already up: nothing started
    # `team down` runs in another process: it knows the service only by its pid file.
    assert http_server(tmp_path, port).stop() is True
    assert not http_ok(f"http://127.0.0.1:{port}/")
    assert not service.pid_file.exists()
    assert http_server(tmp_path, port).stop() is False  # nothing left to stop


@pytest.mark.parametrize(
    "content",
    [
        "999999999 1",  # the process is gone
        f"{os.getpid()} 1",  # the pid was reused (by this test process, after a reboot...)
        "garbage",
    ],
    # Ids fixed, not the pid: xdist workers must collect the same test ids.
    ids=["gone", "reused", "garbage"],
)
def test_a_stale_pid_file_is_ignored_and_never_signalled(tmp_path: Path, content: str) -> None:
    service = http_server(tmp_path, free_port())
    service.run_dir.mkdir(parents=True)
    service.pid_file.write_text(content)
    assert service.pid() is None
    assert service.stop() is False  # this test process was not signalled


def test_a_port_in_use_is_refused_not_adopted(tmp_path: Path) -> None:
    port = free_port()
    stranger = http_server(tmp_path / "stranger", port)
    stranger.start()
    try:
        ours = http_server(tmp_path / "ours", port)
        with pytest.raises(ServiceError, match=rf"port {port} is in use by another process"):
            ours.start()
        assert not ours.pid_file.exists()
    finally:
        stranger.stop()


def test_a_service_that_dies_while_starting_names_its_log(tmp_path: Path) -> None:
    broken = http_server(tmp_path, free_port(), [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ServiceError, match=r"exited while starting; see .*s3\.log"):
        broken.start()


def test_a_stack_that_never_ran_reports_and_stops_nothing(tmp_path: Path) -> None:
    stack = TeamStack(tmp_path / "team")
    assert not any(stack.status().values())
    assert stack.down() == []
