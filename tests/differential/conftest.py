"""Two daemons shared by every scenario of a worker: a private dockerd and a wharfied, each
with busybox:latest imported offline from the same tar.

The differential tests are in two xdist groups (pyproject's `--dist loadgroup`): each
group's worker starts its pair once. `differ(scenario)` runs a scenario on both, resets both, and
fails on any difference that the allow-list does not name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

from support.daemon import Daemon, busybox_tar, daemon_runtime
from support.peers import DockerPeer

STATS: dict[str, Any] = {"calls": 0, "scenarios": 0, "allowlist": 0, "used": []}


# Two groups of about the same length, so that `-n 4` runs them side by side (each worker
# of a group starts one dockerd and one wharfied, shared by the group's scenarios).
SECOND_GROUP = {"test_networks_volumes.py", "test_prune.py", "test_checkpoints.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            group = "b" if item.path.name in SECOND_GROUP else "a"
            item.add_marker(pytest.mark.xdist_group(f"differential-{group}"))
            item.add_marker(pytest.mark.root)


class Pair:
    def __init__(self, dockerd: DockerPeer, wharfied: Daemon, busybox: bytes) -> None:
        self.dockerd = dockerd
        self.busybox = busybox
        self.wharfied = wharfied
        self.allow = harness.load_allowlist(runtime=daemon_runtime())
        STATS["allowlist"] = len(self.allow)

    def sides(self) -> tuple[harness.Side, harness.Side]:
        return (
            harness.Side("dockerd", str(self.dockerd.sock)),
            harness.Side("wharfied", str(self.wharfied.sock)),
        )


def _reset(side: harness.Side, busybox: bytes) -> None:
    """Back to the start state: busybox:latest and nothing else of ours."""
    for c in side.json("GET", "/containers/json?all=1") or []:
        side.raw("DELETE", f"/containers/{c['Id']}?force=1&v=1")
    for n in side.json("GET", "/networks") or []:
        if n["Name"] not in ("bridge", "host", "none"):
            side.raw("DELETE", f"/networks/{n['Id']}")
    for v in (side.json("GET", "/volumes") or {}).get("Volumes") or []:
        side.raw("DELETE", f"/volumes/{v['Name']}?force=1")
    for img in side.json("GET", "/images/json?all=1") or []:
        if "busybox:latest" not in (img.get("RepoTags") or []):
            side.raw("DELETE", f"/images/{img['Id']}?force=1")
    if side.raw("GET", "/images/busybox:latest/json").status == 404:  # a scenario removed it
        r = side.raw(
            "POST",
            "/images/create?fromSrc=-&repo=busybox&tag=latest&changes=" + quote('CMD ["sh"]'),
            busybox,
            headers={"Content-Type": "application/x-tar"},
        )
        assert r.status == 200, r.body


@pytest.fixture(scope="session")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    if os.geteuid() != 0:
        pytest.skip("the differential harness starts dockerd and wharfied: it needs root")
    base = tmp_path_factory.mktemp("differential")
    tar = busybox_tar(base)
    peer = DockerPeer(base / "dockerd")
    peer.start()
    ours = Daemon(
        base / "wharfied", 90 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    )
    try:
        r = peer.cli("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=tar)
        assert r.returncode == 0, r.stderr
        ours.start()
        import docker

        docker.APIClient(base_url=ours.host).import_image_from_data(
            tar, repository="busybox", tag="latest", changes=['CMD ["sh"]']
        )
        yield Pair(peer, ours, tar)
    finally:
        peer.stop()
        leaked = ours.teardown()
        assert not leaked, f"mounts left behind: {leaked}"


Scenario = Callable[[harness.Side], None]


@pytest.fixture
def differ(pair: Pair, request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    def run(scenario: Scenario) -> None:
        ref, ours = pair.sides()
        for side in (ref, ours):
            try:
                scenario(side)
            finally:
                for undo in reversed(side.cleanups):
                    undo()
                _reset(side, pair.busybox)
        dump = os.environ.get("DIFFERENTIAL_DUMP")
        if dump:  # every observation of both sides, for reading what each daemon answered
            import json

            with open(dump, "a") as f:
                for (label, a), (_, b) in zip(ref.observations, ours.observations, strict=False):
                    f.write(
                        json.dumps(
                            {"call": f"{request.node.name}/{label}", "dockerd": a, "wharfied": b},
                            default=str,
                        )
                        + "\n"
                    )
        STATS["calls"] += len(ref.observations)
        STATS["scenarios"] += 1
        problems = harness.compare(
            request.node.name, ref.observations, ours.observations, pair.allow
        )
        STATS["used"] = [i for i, entry in enumerate(pair.allow) if entry.used]
        assert not problems, "differences from dockerd:\n" + "\n".join(problems)

    return run


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["differential"] = dict(STATS)
    elif STATS["scenarios"]:
        session.config._differential = dict(STATS)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's docker-registry on loopback (both daemons take 127.0.0.1 as insecure)."""
    from support.peers import ReferenceRegistry

    reg = ReferenceRegistry(tmp_path_factory.mktemp("differential-registry"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()
