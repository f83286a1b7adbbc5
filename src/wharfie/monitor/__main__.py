"""`python -m wharfie.monitor --exec-root DIR`: run the host's container monitor."""

from __future__ import annotations

import os
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "--exec-root":
        sys.stderr.write("usage: python -m wharfie.monitor --exec-root DIR\n")
        return 2
    exec_root = os.path.abspath(argv[1])
    os.makedirs(exec_root, exist_ok=True)
    from wharfie.errors import WharfieError
    from wharfie.monitor import spawn
    from wharfie.monitor.server import Monitor

    spawn.preload()
    monitor = Monitor(exec_root)
    try:
        monitor.listen()
    except WharfieError as exc:
        sys.stderr.write(f"wharfie-monitor: {exc}\n")
        return 1
    monitor.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
