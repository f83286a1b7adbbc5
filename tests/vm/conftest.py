"""wharfie-vm tests: real QEMU, a real wharfied, the real docker CLI.

Every boot costs seconds of CPU under TCG on a shared machine, so only a few representative
boots are unmarked; the rest are `@pytest.mark.full`. Tests skip loudly when the guest kernel
(scripts/setup.sh) or QEMU is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.daemon import Daemon, busybox_tar
from wharfie.errors import WharfieError


def vm_ready() -> str:
    """Why VM tests cannot run here, or ""."""
    if os.geteuid() != 0:
        return "wharfie-vm needs root (mounts, network namespaces, QEMU with a tap)"
    if not shutil.which("qemu-system-x86_64"):
        return "qemu-system-x86_64 is not installed (scripts/setup.sh)"
    from wharfie.vm import assets

    try:
        assets.find_kernel()
    except WharfieError as exc:
        return str(exc)
    return ""


@pytest.fixture(scope="session")
def vm_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    why = vm_ready()
    if why:
        pytest.skip(why)
    base = tmp_path_factory.mktemp("wharfied-vm")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    d = Daemon(base, 5 + (int(worker[2:]) if worker[2:].isdigit() else 0), ("--experimental",))
    d.start()
    try:
        import docker

        client = docker.APIClient(base_url=d.host)
        client.import_image_from_data(busybox_tar(base), repository="busybox", tag="latest",
                                      changes=['CMD ["sh"]'])  # fmt: skip
        yield d
    finally:
        leaked = d.teardown()
        assert not leaked, f"mounts left behind: {leaked}"


@pytest.fixture
def name() -> str:
    return "vm" + uuid.uuid4().hex[:10]
