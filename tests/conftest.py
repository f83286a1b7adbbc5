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


def pytest_testnodedown(node: object, error: object) -> None:
    """Sum what each xdist worker's differential harness compared (tests/differential)."""
    stats = getattr(node, "workeroutput", {}).get("differential")
    if stats:
        config = node.config  # type: ignore[attr-defined]
        total = getattr(config, "_differential", None) or {}
        for key, value in stats.items():
            if key == "used":  # indices of the allow-list entries some difference needed
                total[key] = sorted(set(total.get(key, [])) | set(value))
            elif key.startswith("allow"):
                total[key] = max(total.get(key, 0), value)
            else:
                total[key] = total.get(key, 0) + value
        config._differential = total


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stats = getattr(terminalreporter.config, "_differential", None)
    if stats:
        terminalreporter.write_line(
            f"differential harness: {stats['calls']} calls compared with dockerd in "
            f"{stats['scenarios']} scenarios; allow-list: {stats['allowlist']} entries "
            f"({len(stats.get('used', []))} used)"
        )
