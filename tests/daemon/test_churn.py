"""16 clients churning containers at once (docker-py on the raw API): every start must
succeed. Each client loops create -> start -> (wait | stop | kill) -> rm, and run-and-wait
with AutoRemove. The fast version runs in CI; 20 longer runs are behind `-m full`."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter

import pytest

from support.daemon import Daemon

pytestmark = pytest.mark.root

CLIENTS = 16


def _client_loop(
    host: str, tag: str, cycles: int, failures: list[str], starts: Counter[str]
) -> None:
    import docker

    api = docker.APIClient(base_url=host, timeout=120)
    for i in range(cycles):
        name = f"{tag}-{i}"
        kind = i % 4
        try:
            if kind == 3:  # AutoRemove: start, wait, gone
                hc = api.create_host_config(auto_remove=True)
                c = api.create_container("busybox", ["true"], host_config=hc, name=name)
                api.start(c)
                starts["ok"] += 1
                try:
                    api.wait(c, timeout=60)
                except docker.errors.NotFound:
                    pass  # it ran, exited and was removed before the wait came (dockerd too)
                continue
            cmd = ["true"] if kind == 0 else ["sleep", "30"]
            c = api.create_container("busybox", cmd, name=name)
            api.start(c)
            starts["ok"] += 1
            if kind == 0:
                api.wait(c, timeout=60)
            elif kind == 1:
                api.stop(c, timeout=0)
            else:
                api.kill(c)
            api.remove_container(c, force=True)
        except docker.errors.APIError as exc:
            failures.append(f"{name}: {exc.response.status_code} {exc.explanation}")
        except Exception as exc:  # every failure is reported, none hidden
            failures.append(f"{name}: {type(exc).__name__}: {exc}")


def churn(d: Daemon, cycles: int) -> tuple[int, list[str]]:
    failures: list[str] = []
    starts: Counter[str] = Counter()
    tag = f"ch{os.getpid()}"
    threads = [
        threading.Thread(target=_client_loop, args=(d.host, f"{tag}c{n}", cycles, failures, starts))
        for n in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    import docker

    api = docker.APIClient(base_url=d.host, timeout=120)
    for c in api.containers(all=True, filters={"name": tag}):
        try:
            api.remove_container(c["Id"], force=True)
        except docker.errors.NotFound:
            pass  # an AutoRemove container that went meanwhile
    return starts["ok"], failures


def test_churn_16_clients(daemon: Daemon) -> None:
    t0 = time.monotonic()
    ok, failures = churn(daemon, 8)
    assert not failures, failures
    assert ok == CLIENTS * 8
    print(f"{ok} starts in {time.monotonic() - t0:.1f}s")


@pytest.mark.full
@pytest.mark.parametrize("run", range(20))
def test_churn_16_clients_long(daemon: Daemon, run: int) -> None:
    ok, failures = churn(daemon, 30)
    assert not failures, failures
    assert ok == CLIENTS * 30
