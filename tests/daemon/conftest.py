"""One real wharfied per test worker, with busybox:latest imported offline."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.daemon import Daemon, busybox_tar


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    return int(worker[2:]) if worker[2:].isdigit() else 0


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("wharfied needs root (namespaces, cgroups, mounts)")
    base = tmp_path_factory.mktemp("wharfied")
    d = Daemon(base, _worker_index())
    d.start()
    try:
        import docker

        client = docker.APIClient(base_url=d.host)
        client.import_image_from_data(
            busybox_tar(base), repository="busybox", tag="latest", changes=['CMD ["sh"]']
        )
        yield d
    finally:
        leaked = d.teardown()
        assert not leaked, f"mounts left behind: {leaked}"


@pytest.fixture
def name() -> str:
    return "t" + uuid.uuid4().hex[:10]


# The embedded DNS of test daemons forwards unknown names nowhere: no query leaves the host.
os.environ.setdefault("WHARFIE_DNS_UPSTREAMS", "")
