"""The cluster tests: real etcd members, and wharfied nodes in their own network namespaces."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from collections.abc import Iterator

import pytest

from support.cluster import Topology, topology


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Topology]:
    """A hub namespace to add nodes to; everything is torn down after, and leaked mounts, or
    devices and nft tables left in a node's namespace (tests/support/cluster.py
    `namespace_leftovers`), fail the test."""
    t = topology(tmp_path)
    try:
        yield t
    finally:
        leaked = t.close()
        assert not leaked, f"left behind: {leaked}"
