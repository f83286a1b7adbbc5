"""Restart policies: whether a container that exited comes back, and after how long.

Docker's rules: "no" never; "always" unless stopped by the user; "unless-stopped" the
same, and also not after a daemon restart if it was stopped; "on-failure[:N]" when
the exit code is non-zero, at most N times. Delays double from 100 ms, capped at a
minute, and reset once a run lasted 10 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wharfie.engine import present

if TYPE_CHECKING:
    from wharfie.engine.model import Container

MAX_DELAY = 60.0


def should_restart(c: Container) -> bool:
    policy = c.host_config.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    if c.manual_stop or c.removing or name == "no":
        return False
    if name in ("always", "unless-stopped"):
        return True
    if name == "on-failure":
        limit = int(policy.get("MaximumRetryCount") or 0)
        failed = c.state.exit_code != 0
        return failed and (limit == 0 or c.restart_count < limit)
    return False


def backoff(c: Container) -> float:
    started = _seconds(c.state.started_at)
    finished = _seconds(c.state.finished_at)
    ran = finished - started if started and finished else 0.0
    delay = 0.1 if ran >= 10 else min(MAX_DELAY, (c.restart_delay or 0.05) * 2)
    c.restart_delay = delay
    return delay


def restart_on_daemon_start(c: Container) -> bool:
    policy = (c.host_config.get("RestartPolicy") or {}).get("Name") or "no"
    if c.manual_stop:
        return False
    return (
        policy == "always"
        or (policy == "unless-stopped")
        or (policy == "on-failure" and should_restart(c))
    )


def _seconds(text: str) -> float:
    if not text or text.startswith("0001-"):
        return 0.0
    try:
        return present.parse_time(text)
    except Exception:  # a malformed stored time only disables the reset
        return 0.0
