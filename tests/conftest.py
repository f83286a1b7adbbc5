"""Session-wide hooks for the whole test tree."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the parent cgroups the suite's cgroupsPath (/wharfie-test/<id>) created.

    Runtimes remove only a container's own cgroup, as runc does. Under xdist this runs in
    the controller, after every worker is done (a worker removing it could race another
    worker creating a container under it).
    """
    if hasattr(session.config, "workerinput"):
        return
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        parent = hierarchy / "wharfie-test"
        try:
            parent.rmdir()
        except OSError:
            continue  # absent, or still in use
