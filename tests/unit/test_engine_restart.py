"""Restart policies (pure): whether an exited container comes back, and the back-off."""

from __future__ import annotations

import pytest
from fakes import bare_container

from wharfie.engine import restart
from wharfie.engine.lifecycle_state import State
from wharfie.engine.model import Container


def exited(policy: str, code: int = 1, count: int = 0, retries: int = 0) -> Container:
    c = bare_container()
    c.host_config["RestartPolicy"] = {"Name": policy, "MaximumRetryCount": retries}
    c.state = State(status="exited", exit_code=code)
    c.restart_count = count
    return c


@pytest.mark.parametrize(
    ("policy", "code", "count", "retries", "expected"),
    [
        ("no", 1, 0, 0, False),
        ("", 1, 0, 0, False),
        ("always", 0, 0, 0, True),
        ("unless-stopped", 0, 5, 0, True),
        ("on-failure", 0, 0, 0, False),
        ("on-failure", 2, 0, 0, True),
        ("on-failure", 2, 2, 3, True),
        ("on-failure", 2, 3, 3, False),
        ("bogus", 1, 0, 0, False),
    ],
)
def test_should_restart(policy: str, code: int, count: int, retries: int, expected: bool) -> None:
    assert restart.should_restart(exited(policy, code, count, retries)) is expected


def test_a_manual_stop_or_a_removal_prevents_a_restart() -> None:
    c = exited("always")
    c.manual_stop = True
    assert not restart.should_restart(c) and not restart.restart_on_daemon_start(c)
    c = exited("always")
    c.state.removing = True
    assert not restart.should_restart(c)


@pytest.mark.parametrize(
    ("policy", "code", "expected"),
    [
        ("always", 0, True),
        ("unless-stopped", 0, True),
        ("on-failure", 1, True),
        ("on-failure", 0, False),
        ("no", 1, False),
    ],
)
def test_restart_on_daemon_start(policy: str, code: int, expected: bool) -> None:
    assert restart.restart_on_daemon_start(exited(policy, code)) is expected


def test_backoff_doubles_to_a_minute_and_resets_after_a_long_run() -> None:
    c = exited("always")
    delays = [restart.backoff(c) for _ in range(12)]
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == restart.MAX_DELAY and c.restart_delay == restart.MAX_DELAY
    c.state.started_at, c.state.finished_at = "2026-01-01T00:00:00Z", "2026-01-01T00:00:11Z"
    assert restart.backoff(c) == 0.1


def test_backoff_survives_a_malformed_stored_time() -> None:
    c = exited("always")
    c.state.started_at, c.state.finished_at = "garbage", "2026-01-01T00:00:11Z"
    assert restart.backoff(c) == 0.1
