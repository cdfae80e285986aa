"""The local webhook receiver the alerting tests post to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from churn_assets_tests.lib.notify.helpers import Webhook


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    """A running local webhook receiver."""
    server = Webhook()
    yield server
    server.close()
