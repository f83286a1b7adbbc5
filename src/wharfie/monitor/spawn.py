"""Running an OCI runtime command from the monitor: forked in-process, or exec'd.

The monitor is single-threaded, so fork() is safe. The child takes its stdio, gets its
signal dispositions and mask reset, closes every other fd, and then either calls
`wharfie.runtime.cli.main(argv)` (wharfie-runtime, no exec and no interpreter start-up:
the runtime's modules were imported before the fork) or execs the runtime binary.
fd 3 of the child is its error channel: sys.stderr of the in-process runtime, so that
runtime messages do not land in the container's stderr (fd 2).
"""

from __future__ import annotations

import os
import signal
import sys

_RESET = ("SIGCHLD", "SIGPIPE", "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGXFSZ")


def preload() -> None:
    """Import the in-process runtime now, so that every fork shares these pages."""
    from wharfie import runtime

    runtime.preload()


def spawn(path: str | None, argv: list[str], stdio: tuple[int, int, int], err_fd: int) -> int:
    """Fork a runtime with `argv` (without argv[0]); path None = in-process wharfie-runtime."""
    pid = os.fork()
    if pid:
        return pid
    code = 127
    try:
        _child_setup(stdio, err_fd)
        code = _child_run(path, argv)
    except BaseException as exc:
        try:
            os.write(3, f"wharfie-monitor: running the runtime: {exc}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(code)


def _child_setup(stdio: tuple[int, int, int], err_fd: int) -> None:
    signal.set_wakeup_fd(-1)
    for name in _RESET:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    fds = [os.dup(fd) if fd < 4 else fd for fd in (*stdio, err_fd)]
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    os.closerange(4, 1 << 20)  # close_range(2) under the hood: one system call


def _child_run(path: str | None, argv: list[str]) -> int:
    if path is not None:
        os.execv(path, [path, *argv])
    from wharfie.runtime import cli

    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - lives until _exit
    sys.stderr = open(3, "w", closefd=False)  # noqa: SIM115
    try:
        return cli.main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
