"""`python -m wharfie.monitor --exec-root DIR`: run the host's container monitor.

The process started is the warden (warden.py); it forks the monitor proper and forks it
again whenever it dies. `--no-warden` runs the monitor alone (no re-adoption).
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    warden = "--no-warden" not in argv
    argv = [a for a in argv if a != "--no-warden"]
    if len(argv) != 2 or argv[0] != "--exec-root":
        sys.stderr.write("usage: python -m wharfie.monitor --exec-root DIR [--no-warden]\n")
        return 2
    exec_root = os.path.abspath(argv[1])
    os.makedirs(exec_root, exist_ok=True)
    from wharfie.monitor import spawn

    if not warden:
        spawn.preload()
        return _serve(exec_root, None, {})
    from wharfie.monitor import warden as warden_mod

    lock = warden_mod.take_lock(exec_root)
    if lock is None:
        sys.stderr.write(f"wharfie-monitor: a warden already runs for {exec_root}\n")
        return 0
    spawn.preload()  # before the fork: every worker starts with the runtime imported
    warden_mod.set_subreaper()
    pid_path = os.path.join(exec_root, warden_mod.PID_NAME)
    with open(pid_path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(pid_path + ".tmp", pid_path)

    def worker(fd: int, holds: dict[str, dict[str, int]]) -> None:
        code = _serve(exec_root, fd, holds)
        if code:
            raise SystemExit(code)

    warden_mod.Warden(exec_root, lock, worker).run()
    return 0


def _serve(exec_root: str, warden_fd: int | None, holds: dict[str, dict[str, int]]) -> int:
    from wharfie.errors import WharfieError
    from wharfie.monitor.server import Monitor

    monitor = Monitor(exec_root)
    try:
        if warden_fd is not None:
            monitor.attach_warden(warden_fd, holds)
        monitor.listen()
    except WharfieError as exc:
        sys.stderr.write(f"wharfie-monitor: {exc}\n")
        return 1
    monitor.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
