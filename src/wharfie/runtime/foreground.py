"""Staying with a container process in the foreground: `run` and `exec` without -d.

The runtime becomes a child subreaper before it forks, so the container's
process (a grandchild) is re-parented to it and its exit status can be read.
Signals the runtime receives are forwarded to the process, as runc does, and
the exit status becomes the runtime's: the code, or 128+n after signal n.
"""

from __future__ import annotations

import _signal
import os

from wharfie import syscalls as sc

_NOT_FORWARDED = {"SIGKILL", "SIGSTOP", "SIGCHLD", "SIGWINCH", "SIGURG", "SIGPIPE"}


def become_subreaper() -> None:
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)


def forward_signals(pid: int) -> None:
    def handler(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for name in dir(_signal):
        if name.startswith("SIG") and not name.startswith("SIG_") and name not in _NOT_FORWARDED:
            num = getattr(_signal, name)
            if isinstance(num, int) and 0 < num < _signal.NSIG:
                try:
                    _signal.signal(num, handler)
                except (OSError, ValueError):
                    pass


def wait_exit(pid: int) -> int:
    """Wait for `pid` (reaping any other orphan meanwhile); returns its shell-style status."""
    while True:
        try:
            got, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return _wait_foreign(pid)
        if got == pid:
            return exit_code(status)


def _wait_foreign(pid: int) -> int:
    """`run --no-subreaper` when the init is not our child: wait until it is gone.

    Its status is not ours to read (it went to its new parent); runc reports 0 then too.
    """
    import select

    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return 0
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)
    return 0


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def attach_terminal(our_end: int) -> None:
    """Receive the pty master the container sent and copy it to/from our stdio until it closes."""
    from wharfie.runtime import console

    master = console.recv_fd(our_end)
    console.proxy(master)


def run_container(opts: object, cid: str, detach: bool) -> int:
    """`run`: create and start; in the foreground, wait, then delete. Returns the exit status."""
    from wharfie.runtime import container, lifecycle

    assert isinstance(opts, container.CreateOptions)
    if not detach:
        if opts.subreaper:
            become_subreaper()
        opts.local_console = True
    opts.autostart = True
    st = container.create(opts, cid)
    try:
        ch = opts.start_channel
        opts.warn.extend(lifecycle.start(st) if ch is None else lifecycle.finish_start(st, ch))
    except BaseException:
        lifecycle.destroy(st)
        raise
    if detach:
        return 0
    forward_signals(st.pid)
    if opts.console_fd >= 0:
        attach_terminal(opts.console_fd)
    code = wait_exit(st.pid)
    if not opts.keep:
        opts.warn.extend(lifecycle.destroy(st))
    return code
