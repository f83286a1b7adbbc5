"""The pids of a test's monitor: its warden (warden.pid) and the worker (monitor.pid).

Pids wrap quickly here (32768): a pid file is trusted only while /proc/<pid>/cmdline is
still a wharfie.monitor of that exec root.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path


def pid_of(exec_root: Path | str, name: str) -> int:
    """The pid in <exec_root>/<name> if that process is still this exec root's monitor."""
    try:
        pid = int((Path(exec_root) / name).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except (OSError, ValueError):
        return 0
    if stat[stat.rindex(b")") + 2 :][:1] == b"Z":
        return 0
    ours = b"wharfie.monitor" in cmdline and str(exec_root).encode() in cmdline
    return pid if ours else 0


def worker_pid(exec_root: Path | str) -> int:
    return pid_of(exec_root, "monitor.pid")


def warden_pid(exec_root: Path | str) -> int:
    return pid_of(exec_root, "warden.pid")


def kill_monitor(exec_root: Path | str) -> None:
    """SIGKILL the warden first (else it forks a new worker), then the worker."""
    for pid in (warden_pid(exec_root), worker_pid(exec_root)):
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def wait_new_worker(exec_root: Path | str, old: int, timeout: float = 10.0) -> int:
    """The pid of the worker that replaced `old` (waits until it wrote monitor.pid)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = worker_pid(exec_root)
        if pid and pid != old:
            return pid
        time.sleep(0.01)
    raise AssertionError(f"no new monitor worker within {timeout}s")
