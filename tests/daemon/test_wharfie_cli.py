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

from support.daemon import Daemon  # noqa: E402
from test_cli_peer_basic import *  # noqa: E402, F403

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def host(daemon: Daemon) -> str:  # noqa: F811
    return daemon.host
