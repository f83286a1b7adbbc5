"""The network API through docker-py's models (as compose and scripts use it)."""

from __future__ import annotations

import docker
import pytest

from support.daemon import Daemon


@pytest.fixture
def client(daemon: Daemon) -> docker.DockerClient:
    return docker.DockerClient(base_url=daemon.host, timeout=60)


def test_docker_py_network_models(client: docker.DockerClient, daemon: Daemon, name: str) -> None:
    third = int(daemon.subnet.split(".")[2])
    ipam = docker.types.IPAMConfig(
        pool_configs=[
            docker.types.IPAMPool(subnet=f"10.221.{third}.0/24", gateway=f"10.221.{third}.254")
        ]
    )
    net = client.networks.create(name, driver="bridge", ipam=ipam, labels={"k": "v"})
    try:
        assert net.attrs["IPAM"]["Config"][0]["Gateway"] == f"10.221.{third}.254"
        assert [n.name for n in client.networks.list(names=[name])] == [name]
        assert [n.id for n in client.networks.list(filters={"label": "k=v"})] == [net.id]
        c = client.containers.run(
            "busybox",
            ["sleep", "300"],
            detach=True,
            name=name,
            network=name,
            labels={"wtest": "networks"},
        )
        try:
            net.reload()
            assert [x.id for x in net.containers] == [c.id]
            c.reload()
            ep = c.attrs["NetworkSettings"]["Networks"][name]
            assert ep["Aliases"] == [c.id[:12]] and ep["Gateway"] == f"10.221.{third}.254"
            net.disconnect(c)
            net.connect(c, aliases=["again"], ipv4_address=f"10.221.{third}.77")
            c.reload()
            ep = c.attrs["NetworkSettings"]["Networks"][name]
            assert ep["IPAddress"] == f"10.221.{third}.77"
            assert ep["Aliases"] == ["again", c.id[:12]]
            with pytest.raises(docker.errors.APIError) as e:
                net.remove()
            assert e.value.status_code == 403  # in use: Forbidden, as dockerd
        finally:
            c.remove(force=True)
        assert client.networks.prune(filters={"label": "k=v"})["NetworksDeleted"] == [name]
    finally:
        try:
            client.api.remove_network(net.id)
        except docker.errors.NotFound:
            pass
