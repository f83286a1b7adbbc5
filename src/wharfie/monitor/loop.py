"""A minimal single-threaded event loop: epoll, timers, and SIGCHLD through a wakeup fd.

No selectors/asyncio objects per fd: a dict of fd -> [on_read, on_write] and one epoll.
Children are reaped in one place (`reap`); an exit status nobody has claimed yet (a
container that exited before its runtime told us its pid) is kept by pid until claimed.
Pids wrap (at 32768 by default), so such a status is numbered by when it was reaped:
`wait_pid(pid, cb, since=mark())` ignores one reaped before the mark, which belonged to
an earlier process with the same pid (a runtime's init it killed and left to us, an
orphan), and would otherwise be taken for the exit of a process started after it.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Callback = Callable[[], None]

_IN = select.EPOLLIN | select.EPOLLHUP | select.EPOLLERR
_OUT = select.EPOLLOUT
_MAX_UNCLAIMED = 4096


class Loop:
    def __init__(self) -> None:
        self.epoll = select.epoll()
        self.cbs: dict[int, list[Callback | None]] = {}
        self.timers: list[tuple[float, Callback]] = []
        self.waiters: dict[int, Callable[[int], None]] = {}
        self.unclaimed: dict[int, tuple[int, int]] = {}  # pid -> (wait status, reap number)
        self.reaped = 0
        self.running = True
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        signal.signal(signal.SIGCHLD, _noop)
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        self.watch(self._wake_r.fileno(), self._on_wakeup)

    def watch(
        self, fd: int, on_read: Callback | None = None, on_write: Callback | None = None
    ) -> None:
        """Set both callbacks of `fd` (None: not interested); no callbacks unregisters."""
        mask = (_IN if on_read else 0) | (_OUT if on_write else 0)
        known = fd in self.cbs
        if not mask:
            if known:
                del self.cbs[fd]
                self.epoll.unregister(fd)
            return
        if known:
            self.epoll.modify(fd, mask)
        else:
            self.epoll.register(fd, mask)
        self.cbs[fd] = [on_read, on_write]

    def set_read(self, fd: int, cb: Callback | None) -> None:
        self.watch(fd, cb, self.cbs.get(fd, (None, None))[1])

    def set_write(self, fd: int, cb: Callback | None) -> None:
        self.watch(fd, self.cbs.get(fd, (None, None))[0], cb)

    def later(self, delay: float, cb: Callback) -> None:
        self.timers.append((time.monotonic() + delay, cb))

    def mark(self) -> int:
        """A point in the sequence of reaps: statuses reaped from now on are newer."""
        return self.reaped

    def wait_pid(self, pid: int, cb: Callable[[int], None], since: int = 0) -> None:
        """Call cb(wait status) when `pid` exits (at once if it already has, after `since`)."""
        kept = self.unclaimed.pop(pid, None)
        if kept is None or kept[1] <= since:  # none, or an earlier process's with this pid
            self.waiters[pid] = cb
        else:
            cb(kept[0])

    def close(self) -> None:
        """Give the process its signal set-up back and release the loop's descriptors (the
        monitor's loop lives as long as its process; a loop made in another program, as a
        test does, must not leave SIGCHLD bytes going to a descriptor number reused since)."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.epoll.close()
        self._wake_r.close()
        self._wake_w.close()

    def run(self) -> None:
        while self.running:
            for fd, events in self.epoll.poll(self._timeout()):
                self._dispatch(fd, events)
            self._fire_timers()

    def _dispatch(self, fd: int, events: int) -> None:
        try:
            self._dispatch_one(fd, events)
        except Exception:  # one bad event must not take every container's supervisor down
            _report(f"handling fd {fd}")

    def _dispatch_one(self, fd: int, events: int) -> None:
        cbs = self.cbs.get(fd)
        if cbs is None:
            return
        if events & _IN and cbs[0] is not None:
            cbs[0]()
            cbs = self.cbs.get(fd)  # the callback may have changed or removed them
            if cbs is None:
                return
        if events & (_OUT | select.EPOLLERR | select.EPOLLHUP) and cbs[1] is not None:
            cbs[1]()

    def _timeout(self) -> float:
        if not self.timers:
            return -1
        return max(0.0, min(t for t, _ in self.timers) - time.monotonic())

    def _fire_timers(self) -> None:
        if not self.timers:
            return
        now = time.monotonic()
        due = [cb for t, cb in self.timers if t <= now]
        if due:
            self.timers = [(t, cb) for t, cb in self.timers if t > now]
            for cb in due:
                try:
                    cb()
                except Exception:  # as in _dispatch
                    _report("running a timer")

    def _on_wakeup(self) -> None:
        try:
            while self._wake_r.recv(512):
                pass
        except BlockingIOError:
            pass
        self.reap()

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.reaped += 1
            cb = self.waiters.pop(pid, None)
            if cb is not None:
                cb(status)
                continue
            if len(self.unclaimed) >= _MAX_UNCLAIMED:
                self.unclaimed.pop(next(iter(self.unclaimed)))
            self.unclaimed[pid] = (status, self.reaped)


def _report(what: str) -> None:
    import sys
    import traceback

    sys.stderr.write(f"wharfie-monitor: error {what}:\n{traceback.format_exc()}")
    sys.stderr.flush()


def _noop(_signum: int, _frame: object) -> None:
    return None


def exit_code(status: int) -> int:
    """A wait status as the shell shows it: the code, or 128+n after signal n."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def read_available(fd: int, limit: int = 1 << 20) -> bytes:
    """Whatever a non-blocking fd holds now (up to `limit`), without waiting."""
    out = b""
    while len(out) < limit:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        out += chunk
    return out
