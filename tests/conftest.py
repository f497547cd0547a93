"""Shared test fixtures."""

from __future__ import annotations

import pytest
import trio
import trio.testing


@pytest.fixture
def io_clock(mock_clock: trio.testing.MockClock) -> trio.testing.MockClock:
    """Virtual time for tests over real loopback sockets: it jumps ahead only after 20 ms of
    real idleness, so that bytes still on their way are not overtaken (an autojump threshold
    of 0 is for tests without real I/O)."""
    mock_clock.autojump_threshold = 0.02
    return mock_clock
