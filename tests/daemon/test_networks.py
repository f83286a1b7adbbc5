"""User-defined networks through the real docker CLI, wharfie and docker-py: names, aliases
and DNS within shared networks only, isolation, --internal, connect/disconnect live and
before start, --network container:, macvlan on a dummy parent, bad input with Docker's
statuses, and no leftovers (bridges, veths, namespaces, nftables rules).

busybox wget -T segfaults (busybox 1.35 static): the tests use `timeout N wget` instead."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import docker
import pytest

from support.daemon import Daemon, docker_cli, wharfie_cli


def _slot(daemon: Daemon, i: int) -> str:
    """A /26 of 10.215.0.0/16 for this daemon (its default subnet's third byte) and index."""
    third = int(daemon.subnet.split(".")[2])
    return f"10.215.{third}.{64 * i}/26"


def _addr(daemon: Daemon, i: int, host: int) -> str:
    third = int(daemon.subnet.split(".")[2])
    return f"10.215.{third}.{64 * i + host}"


def _wget(url: str, secs: int) -> list[str]:
    """busybox wget under a time limit (sh stays PID 1: a PID 1 wget ignores SIGTERM)."""
    return ["sh", "-c", f"timeout {secs} wget -q -O- {url} || exit 1"]


def _ok(p: subprocess.CompletedProcess[bytes]) -> str:
    assert p.returncode == 0, (p.stdout + p.stderr).decode()
    return p.stdout.decode()


@pytest.fixture
def api(daemon: Daemon) -> docker.APIClient:
    return docker.APIClient(base_url=daemon.host, timeout=60)


@pytest.fixture
def nets(daemon: Daemon) -> Iterator[list[str]]:
    """Names of networks a test creates: removed (with their containers) afterwards, and
    checked to leave no bridge, veth or nft rule behind."""
    made: list[str] = []
    yield made
    client = docker.APIClient(base_url=daemon.host, timeout=60)
    ids = []
    for n in made:
        try:
            doc = client.inspect_network(n)
        except docker.errors.NotFound:
            continue
        ids.append(doc["Id"])
        for cid in doc["Containers"]:
            client.remove_container(cid, force=True)
    for c in client.containers(all=True, filters={"label": "wtest=networks"}):
        client.remove_container(c["Id"], force=True)
    for nid in ids:
        client.remove_network(nid)
    assert_no_leaks(daemon, ids)


def assert_no_leaks(daemon: Daemon, network_ids: list[str]) -> None:
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for nid in network_ids:
        assert f"br-{nid[:12]}" not in links, f"bridge of {nid[:12]} left behind"
    table = f"wharfie_{daemon.bridge}"
    rules = subprocess.run(
        ["nft", "list", "table", "ip", table], capture_output=True, text=True
    ).stdout
    for nid in network_ids:
        assert f"br-{nid[:12]}" not in rules, f"nft rules of {nid[:12]} left behind"
    running = {c["Id"] for c in docker.APIClient(base_url=daemon.host).containers()}
    netns_dir = daemon.exec_root / "netns"
    stale = [n for n in os.listdir(netns_dir) if n not in running] if netns_dir.exists() else []
    assert not stale, f"network namespaces left behind: {stale}"
    from wharfie.network import host_veth_name

    wanted = {host_veth_name(cid) for cid in running}
    for _ in range(40):  # the kernel frees a dropped namespace's veths asynchronously
        ports = subprocess.run(
            ["ip", "-o", "link", "show", "master", daemon.bridge], capture_output=True, text=True
        ).stdout
        extra = [ln.split(":")[1].strip().split("@")[0] for ln in ports.splitlines()]
        extra = [v for v in extra if v not in wanted]
        if not extra:
            break
        time.sleep(0.05)
    assert not extra, f"veths left on {daemon.bridge}: {extra}"


def _net(daemon: Daemon, nets: list[str], *args: str) -> str:
    name = "tn" + uuid.uuid4().hex[:8]
    _ok(docker_cli(daemon, "network", "create", *args, name))
    nets.append(name)
    return name


def _run(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[bytes]:
    return docker_cli(daemon, "run", "--label", "wtest=networks", *args)


def _sleeper(daemon: Daemon, name: str, *args: str) -> str:
    return _ok(_run(daemon, "-d", "--name", name, *args, "busybox", "sleep", "300")).strip()


def test_name_alias_and_short_id_resolve_on_a_user_network(
    daemon: Daemon, nets: list[str], name: str
) -> None:
    net = _net(daemon, nets, "--subnet", _slot(daemon, 0))
    cid = _sleeper(daemon, name, "--network", net, "--network-alias", "db")
    script = (
        f"ping -c1 -W2 {name} && ping -c1 -W2 db && ping -c1 -W2 {cid[:12]} && cat /etc/resolv.conf"
    )
    out = _ok(_run(daemon, "--rm", "--network", net, "busybox", "sh", "-c", script))
    assert "nameserver 127.0.0.11" in out
    doc = docker.APIClient(base_url=daemon.host).inspect_container(cid)
    ep = doc["NetworkSettings"]["Networks"][net]
    assert ep["Aliases"] == ["db", cid[:12]]  # API 1.44: the short ID joins the aliases
    assert ep["IPAddress"] == _addr(daemon, 0, 2)
    # the same through wharfie's CLI
    out = _ok(
        wharfie_cli(
            daemon,
            "run",
            "--rm",
            "--label",
            "wtest=networks",
            "--network",
            net,
            "busybox",
            "nslookup",
            "db",
        )
    )
    assert ep["IPAddress"] in out


def test_dns_answers_only_within_shared_networks_and_networks_are_isolated(
    daemon: Daemon, nets: list[str], name: str
) -> None:
    a = _net(daemon, nets, "--subnet", _slot(daemon, 1))
    b = _net(daemon, nets)  # a subnet from the default pools
    _ok(
        _run(
            daemon,
            "-d",
            "--name",
            name,
            "--network",
            a,
            "busybox",
            "httpd",
            "-f",
            "-p",
            "80",
            "-h",
            "/etc",
        )
    )
    ip = docker.APIClient(base_url=daemon.host).inspect_container(name)["NetworkSettings"][
        "Networks"
    ][a]["IPAddress"]
    same = _run(daemon, "--rm", "--network", a, "busybox", *_wget(f"http://{name}/hostname", 3))
    assert same.returncode == 0, same.stderr
    other = _run(daemon, "--rm", "--network", b, "busybox", "nslookup", name)
    assert other.returncode != 0 and ip not in other.stdout.decode()
    blocked = _run(daemon, "--rm", "--network", b, "busybox", *_wget(f"http://{ip}/hostname", 2))
    assert blocked.returncode != 0
    default = _run(daemon, "--rm", "busybox", *_wget(f"http://{ip}/hostname", 2))
    assert default.returncode != 0  # the default bridge is isolated from user networks too


def test_internal_network_has_no_route_out(daemon: Daemon, nets: list[str]) -> None:
    net = _net(daemon, nets, "--internal", "--subnet", _slot(daemon, 2))
    out = _ok(_run(daemon, "--rm", "--network", net, "busybox", "ip", "route"))
    assert "default" not in out
    assert _slot(daemon, 2) in out


def test_connect_and_disconnect_live_and_before_start(
    daemon: Daemon, nets: list[str], name: str, api: docker.APIClient
) -> None:
    net = _net(daemon, nets, "--subnet", _slot(daemon, 3))
    _sleeper(daemon, name)  # on the default bridge
    _ok(docker_cli(daemon, "network", "connect", "--alias", "live", net, name))
    doc = api.inspect_container(name)
    assert set(doc["NetworkSettings"]["Networks"]) == {"bridge", net}
    _ok(_run(daemon, "--rm", "--network", net, "busybox", "ping", "-c1", "-W2", "live"))
    links = _ok(docker_cli(daemon, "exec", name, "ip", "-o", "link"))
    assert "eth1" in links
    _ok(wharfie_cli(daemon, "network", "disconnect", net, name))
    gone = _run(daemon, "--rm", "--network", net, "busybox", "ping", "-c1", "-W1", "live")
    assert gone.returncode != 0
    assert "eth1" not in _ok(docker_cli(daemon, "exec", name, "ip", "-o", "link"))
    # connect a created container, then start it: both networks, static address kept
    later = name + "b"
    api.create_container("busybox", ["sleep", "300"], name=later, labels={"wtest": "networks"})
    static = _addr(daemon, 3, 50)
    _ok(docker_cli(daemon, "network", "connect", "--ip", static, net, later))
    api.start(later)
    got = api.inspect_container(later)["NetworkSettings"]["Networks"]
    assert got[net]["IPAddress"] == static
    assert got["bridge"]["IPAddress"]


def test_container_network_mode_shares_the_namespace(
    daemon: Daemon, nets: list[str], name: str
) -> None:
    net = _net(daemon, nets, "--subnet", _slot(daemon, 0))
    _ok(
        _run(
            daemon,
            "-d",
            "--name",
            name,
            "--network",
            net,
            "busybox",
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            "/etc",
        )
    )
    out = _ok(
        _run(
            daemon,
            "--rm",
            "--network",
            f"container:{name}",
            "busybox",
            *_wget("http://127.0.0.1:8080/hostname", 3),
        )
    )
    other = docker.APIClient(base_url=daemon.host).inspect_container(name)["Id"]
    assert out.strip() == other[:12]  # the other container's /etc/hostname, served by it
    own = _ok(_run(daemon, "--rm", "--network", f"container:{name}", "busybox", "hostname"))
    assert own.strip() == other[:12]  # and its host name, as Docker
    bad = _run(daemon, "--rm", "--network", "container:nosuch", "busybox", "true")
    assert bad.returncode != 0 and b"No such container: nosuch" in bad.stderr


def test_macvlan_on_a_dummy_parent(daemon: Daemon, nets: list[str], name: str) -> None:
    parent = "wtd" + uuid.uuid4().hex[:8]
    made = subprocess.run(["ip", "link", "add", parent, "type", "dummy"], capture_output=True)
    if made.returncode != 0:  # a kernel without CONFIG_DUMMY (this VM's): a veth pair's end
        made = subprocess.run(
            ["ip", "link", "add", parent, "type", "veth", "peer", "name", parent + "p"],
            capture_output=True,
        )
    if made.returncode != 0:
        pytest.skip(f"no dummy or veth links here: {made.stderr.decode().strip()}")
    try:
        subprocess.run(["ip", "link", "set", parent, "up"], check=True)
        if made.args[-1] == parent + "p":  # a veth needs its peer up to have a carrier
            subprocess.run(["ip", "link", "set", parent + "p", "up"], check=True)
        third = int(daemon.subnet.split(".")[2])
        net = _net(
            daemon,
            nets,
            "-d",
            "macvlan",
            "-o",
            f"parent={parent}",
            "--subnet",
            f"10.216.{third}.0/24",
        )
        _sleeper(daemon, name, "--network", net)
        _ok(_run(daemon, "--rm", "--network", net, "busybox", "ping", "-c1", "-W2", name))
        # The link type is seen from the host side of the container's netns: busybox's `ip`
        # shows "eth0@if7" for a veth and a macvlan alike.
        pid = _ok(docker_cli(daemon, "inspect", "-f", "{{.State.Pid}}", name)).strip()
        kind = subprocess.run(
            ["nsenter", "-t", pid, "-n", "ip", "-d", "-o", "link", "show", "eth0"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert " macvlan mode bridge " in kind, kind
        nodev = docker_cli(
            daemon,
            "network",
            "create",
            "-d",
            "macvlan",
            "-o",
            "parent=wtdnosuch0",
            "--subnet",
            f"10.217.{third}.0/24",
            "tnbad",
        )
        assert nodev.returncode != 0
        assert b"parent interface was not found on the host: wtdnosuch0" in nodev.stderr
    finally:
        for c in docker.APIClient(base_url=daemon.host).containers(
            all=True, filters={"label": "wtest=networks"}
        ):
            docker.APIClient(base_url=daemon.host).remove_container(c["Id"], force=True)
        subprocess.run(["ip", "link", "del", parent], capture_output=True)


def test_bad_input_gets_dockers_status_and_wording(
    daemon: Daemon, nets: list[str], name: str, api: docker.APIClient
) -> None:
    net = _net(daemon, nets, "--subnet", _slot(daemon, 1).replace("/26", "/27"))
    with pytest.raises(docker.errors.APIError) as e:
        api.create_network(
            "tnover" + name,
            driver="bridge",
            ipam=docker.types.IPAMConfig(
                pool_configs=[docker.types.IPAMPool(subnet=_slot(daemon, 1))]
            ),
        )
    assert e.value.status_code == 403
    assert "Pool overlaps with other one on this address space" in str(e.value)
    with pytest.raises(docker.errors.NotFound, match='plugin "nosuchdrv" not found'):
        api.create_network("tnd" + name, driver="nosuchdrv")
    with pytest.raises(docker.errors.APIError) as e:
        api.create_network(net)
    assert e.value.status_code == 409
    with pytest.raises(docker.errors.NotFound, match="network nosuchnet not found"):
        api.inspect_network("nosuchnet")
    p = _run(daemon, "--rm", "--network", "nosuchnet", "busybox", "true")
    assert p.returncode == 125 and b"network nosuchnet not found" in p.stderr
    with pytest.raises(docker.errors.APIError) as e:
        api.remove_network("bridge")
    assert e.value.status_code == 403
    _sleeper(daemon, name, "--network", net)
    p = docker_cli(daemon, "network", "rm", net)
    assert p.returncode == 1 and b"has active endpoints" in p.stderr
    with pytest.raises(docker.errors.APIError) as e:
        api.remove_network(net)
    assert e.value.status_code == 403  # libnetwork's ActiveEndpointsError is Forbidden


def test_ls_inspect_filters_and_prune(daemon: Daemon, nets: list[str], name: str) -> None:
    net = _net(daemon, nets, "--label", "team=blue", "--subnet", _slot(daemon, 2))
    out = _ok(
        docker_cli(
            daemon,
            "network",
            "ls",
            "--filter",
            "label=team=blue",
            "--format",
            "{{.Name}} {{.Driver}}",
        )
    )
    assert out.split("\n")[0] == f"{net} bridge"
    builtin = _ok(
        wharfie_cli(daemon, "network", "ls", "-f", "type=builtin", "--format", "{{.Name}}")
    ).split()
    assert sorted(builtin) == ["bridge", "host", "none"]
    subnet = _ok(
        docker_cli(daemon, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", net)
    ).strip()
    assert subnet == _slot(daemon, 2)
    out = _ok(docker_cli(daemon, "network", "prune", "-f", "--filter", "label=team=blue"))
    assert net in out
    assert docker_cli(daemon, "network", "inspect", net).returncode == 1


def test_ps_filters_by_network_name_or_id_prefix(
    daemon: Daemon, nets: list[str], name: str
) -> None:
    net = _net(daemon, nets, "--subnet", _slot(daemon, 3))
    _sleeper(daemon, name, "--network", net)
    nid = _ok(docker_cli(daemon, "network", "inspect", "-f", "{{.Id}}", net)).strip()
    for value in (net, nid[:10]):
        out = _ok(
            docker_cli(daemon, "ps", "--filter", f"network={value}", "--format", "{{.Names}}")
        )
        assert out.split() == [name]
    assert _ok(docker_cli(daemon, "ps", "-q", "--filter", f"network={net[:-1]}")) == ""


def test_mtu_jumbo_by_default_on_user_bridges_and_set_by_option(
    daemon: Daemon, nets: list[str]
) -> None:
    jumbo = _net(daemon, nets, "--subnet", _slot(daemon, 0))
    out = _ok(
        _run(daemon, "--rm", "--network", jumbo, "busybox", "ip", "-o", "link", "show", "eth0")
    )
    assert "mtu 65520" in out
    plain = _net(
        daemon, nets, "-o", "com.docker.network.driver.mtu=1500", "--subnet", _slot(daemon, 1)
    )
    out = _ok(
        _run(daemon, "--rm", "--network", plain, "busybox", "ip", "-o", "link", "show", "eth0")
    )
    assert "mtu 1500" in out
    bad = docker_cli(
        daemon, "network", "create", "-o", "com.docker.network.driver.mtu=x", "tnbadmtu"
    )
    assert bad.returncode != 0 and b"invalid MTU" in bad.stderr


def test_reverse_lookup_and_network_events(daemon: Daemon, nets: list[str], name: str) -> None:
    since = str(int(time.time()) - 1)
    net = _net(daemon, nets, "--subnet", _slot(daemon, 2))
    _sleeper(daemon, name, "--network", net)
    out = _ok(_run(daemon, "--rm", "--network", net, "busybox", "nslookup", _addr(daemon, 2, 2)))
    assert f"{name}.{net}" in out
    _ok(docker_cli(daemon, "rm", "-f", name))
    until = str(int(time.time()) + 1)
    events = _ok(
        docker_cli(
            daemon,
            "events",
            "--since",
            since,
            "--until",
            until,
            "--filter",
            "type=network",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
        )
    )
    lines = events.splitlines()
    assert f"create {net}" in lines
    assert f"connect {net}" in lines and f"disconnect {net}" in lines


def test_auxiliary_addresses_are_not_handed_out(daemon: Daemon, nets: list[str], name: str) -> None:
    net = _net(
        daemon, nets, "--subnet", _slot(daemon, 3), "--aux-address", f"router={_addr(daemon, 3, 2)}"
    )
    _sleeper(daemon, name, "--network", net)
    ip = docker.APIClient(base_url=daemon.host).inspect_container(name)["NetworkSettings"][
        "Networks"
    ][net]["IPAddress"]
    assert ip == _addr(daemon, 3, 3)
    p = docker_cli(daemon, "network", "connect", "--ip", _addr(daemon, 3, 2), net, name + "x")
    assert p.returncode != 0


def test_host_and_none_networks_list_their_containers(
    daemon: Daemon, nets: list[str], name: str
) -> None:
    cid = _sleeper(daemon, name, "--network", "host")
    out = _ok(docker_cli(daemon, "network", "inspect", "-f", "{{json .Containers}}", "host"))
    assert cid in out
    none = _sleeper(daemon, name + "n", "--network", "none")
    assert none in _ok(docker_cli(daemon, "network", "inspect", "none"))
    p = docker_cli(daemon, "network", "connect", "bridge", name + "n")
    assert p.returncode != 0 and b"private (none) mode" in p.stderr


def test_alias_needs_a_user_network_and_host_gateway_is_the_bridge_gateway(
    daemon: Daemon, nets: list[str]
) -> None:
    api = docker.APIClient(base_url=daemon.host)
    config = api.create_networking_config({"bridge": api.create_endpoint_config(aliases=["x"])})
    with pytest.raises(docker.errors.APIError) as e:  # the docker CLI refuses it itself
        api.create_container("busybox", "true", networking_config=config)
    assert e.value.status_code == 400
    assert "network-scoped alias is supported only for containers in user defined" in str(e.value)
    out = _ok(
        _run(
            daemon,
            "--rm",
            "--add-host",
            "host.docker.internal:host-gateway",
            "busybox",
            "cat",
            "/etc/hosts",
        )
    )
    gateway = daemon.subnet.rsplit(".", 1)[0] + ".1"
    assert f"{gateway}\thost.docker.internal" in out


def test_stop_and_start_again_at_once_on_user_and_default_networks(
    daemon: Daemon, nets: list[str], name: str
) -> None:
    """The kernel destroys a stopped container's veth pair in the background; a start right
    away must not trip over the old host end (same name)."""
    net = _net(daemon, nets, "--subnet", _slot(daemon, 1))
    _sleeper(daemon, name, "--network", net)
    _ok(docker_cli(daemon, "network", "connect", "bridge", name))
    for _ in range(5):
        _ok(docker_cli(daemon, "restart", "-t", "0", name))
    out = _ok(docker_cli(daemon, "exec", name, "ip", "-o", "-4", "addr"))
    assert _addr(daemon, 1, 2) in out and "eth1" in out
