"""The monitor's loop: a reaped status is only taken for the process it belonged to."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from wharfie.monitor.loop import Loop


@pytest.fixture
def loop() -> Iterator[Loop]:
    made = Loop()
    yield made
    made.close()


def _fork_exit(code: int) -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(code)
    return pid


def _reap_until(loop: Loop, pid: int) -> None:
    deadline = time.monotonic() + 5
    while pid not in loop.unclaimed and time.monotonic() < deadline:
        loop.reap()
        time.sleep(0.001)
    assert pid in loop.unclaimed


def test_status_reaped_before_the_mark_is_not_taken(loop: Loop) -> None:
    pid = _fork_exit(3)
    _reap_until(loop, pid)  # an orphan nobody waited for: kept
    since = loop.mark()
    got: list[int] = []
    loop.wait_pid(pid, got.append, since)  # a new process that reuses the pid
    assert got == [] and pid in loop.waiters
    loop.waiters.pop(pid)


def test_status_reaped_after_the_mark_is_taken_at_once(loop: Loop) -> None:
    since = loop.mark()
    pid = _fork_exit(5)
    _reap_until(loop, pid)  # exited before anyone asked (a `true` container)
    got: list[int] = []
    loop.wait_pid(pid, got.append, since)
    assert [os.waitstatus_to_exitcode(s) for s in got] == [5]


def test_a_failing_callback_does_not_stop_the_loop(loop: Loop) -> None:
    r, w = os.pipe()
    calls: list[str] = []

    def bad() -> None:
        calls.append("bad")
        os.read(r, 1)
        raise RuntimeError("boom")

    loop.watch(r, bad)
    os.write(w, b"x")
    for fd, ev in loop.epoll.poll(1):
        loop._dispatch(fd, ev)
    assert calls == ["bad"]
    loop.watch(r)
    os.close(r)
    os.close(w)


def test_close_gives_the_signal_set_up_back() -> None:
    import signal

    before = signal.getsignal(signal.SIGCHLD)
    made = Loop()
    assert signal.getsignal(signal.SIGCHLD) is not before
    made.close()
    assert signal.getsignal(signal.SIGCHLD) == signal.SIG_DFL
    assert signal.set_wakeup_fd(-1) == -1  # no wakeup descriptor was left set
