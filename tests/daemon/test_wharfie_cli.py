"""The wharfie CLI suite (tests/integration/test_cli_peer_basic.py), run against wharfied.

The same tests run against the peer dockerd there; here the `host` fixture points them at
this worker's wharfied, so the CLI and the daemon are checked against each other and
against Docker by one set of expectations.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from test_cli_peer_basic import *  # noqa: F403

from support.daemon import Daemon

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def host(daemon: Daemon) -> str:
    return daemon.host
