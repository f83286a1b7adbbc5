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

RUNTIME_MODULES = (
    "wharfie.runtime.cli",
    "wharfie.runtime.commands",
    "wharfie.runtime.container",
    "wharfie.runtime.init",
    "wharfie.runtime.rootfs",
    "wharfie.runtime.process",
    "wharfie.runtime.seccomp",
    "wharfie.runtime.seccomp_cache",
    "wharfie.runtime.spawn",
    "wharfie.runtime.foreground",
    "wharfie.runtime.lifecycle",
    "wharfie.runtime.console",
    "wharfie.runtime.execproc",
    "wharfie.runtime.state",
    "wharfie.runtime.sync",
    "wharfie.runtime.hooks",
    "wharfie.runtime.mount_options",
    # the cgroup drivers the runtime imports lazily: without them here every fork
    # unmarshalled them again (~10 modules on each container start)
    "wharfie.cgroups._base",
    "wharfie.cgroups._fs",
    "wharfie.cgroups._mounts",
    "wharfie.cgroups._paths",
    "wharfie.cgroups._driver",
    "wharfie.cgroups._v1",
    "wharfie.cgroups._v2",
    "wharfie.cgroups._hybrid",
    "wharfie.cgroups._spec",
    "wharfie.cgroups._plan_common",
    "wharfie.cgroups._plan_v1",
    "wharfie.cgroups._plan_v2",
    "wharfie.cgroups._devices",
    "wharfie.cgroups._bpf",
    "wharfie.cgroups._stats",
)
_RESET = ("SIGCHLD", "SIGPIPE", "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGXFSZ")


def preload() -> None:
    """Import the in-process runtime now, so that every fork shares these pages."""
    import importlib

    for name in RUNTIME_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            continue  # not every runtime module exists in every version
    import zlib  # noqa: F401  (the seccomp filter cache names its files by crc32)

    from wharfie.runtime import seccomp

    seccomp.preload_library()  # one dlopen here instead of one per container start


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
