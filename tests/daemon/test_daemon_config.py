"""wharfied --config-file, against a real dockerd and with a real daemon.

The bad files are given to dockerd 20.10 and to wharfied with the same flags; both must
refuse to start, and the message after "with file PATH: " must be the same (dockerd exits
at once on these, before touching anything; its roots are private anyway). Then a wharfied
configured only by a file is started and checked through the docker CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.daemon import SRC, busybox_tar, docker_cli
from support.filedaemon import FileDaemon
from support.peers import DOCKERD


def _run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )


def _message(stderr: str) -> str:
    """The last error line, without dockerd's log prefix and without the file's name."""
    lines = [ln for ln in stderr.splitlines() if ln.strip() and not ln.startswith("time=")]
    last = lines[-1]
    return last.split(".json: ", 1)[1] if ".json: " in last else last


CASES = {
    "unknown": ({"zzz-not-an-option": 1}, []),
    "unknown_nested": ({"nested": {"also-unknown": 1}}, []),
    "conflicts": (
        {
            "data-root": "/tmp/file-root",
            "bip": "10.1.0.1/24",
            "debug": False,
            "insecure-registries": ["x:1"],
        },
        ["--bip", "10.2.0.1/24", "-D", "--insecure-registry", "y:1"],
    ),
    "type_int": ({"mtu": "x"}, []),
    "type_string": ({"group": 5}, []),
    "type_list": ({"dns": "10.0.0.1"}, []),
    "type_bool": ({"live-restore": "yes"}, []),
    "not_an_object": ([1], []),
    "log_level": ({"log-level": "bogus"}, []),
    "labels_bad": ({"labels": ["nolabel"]}, []),
    "labels_conflict": ({"labels": ["a=1", "a=2"]}, []),
    "labels_flag": ({"labels": ["a=1"]}, ["--label", "b=2"]),
    "dns_search_flag": ({"dns-search": ["x.test"]}, ["--dns-search", "y.test"]),
    "dns_search_bad": ({"dns-search": ["-bad-"]}, []),
    "dns_opts_type": ({"dns-opts": "ndots:1"}, []),
    "ulimits_type": ({"default-ulimits": ["nofile"]}, []),
    "shm_bad": ({"default-shm-size": "abc"}, []),
    "ipc_bad": ({"default-ipc-mode": "bogus"}, []),
    "ipc_host": ({"default-ipc-mode": "host"}, []),
    "cgroupns_bad": ({"default-cgroupns-mode": "bogus"}, []),
    "ip_bad": ({"ip": "bogus"}, []),
    "init_type": ({"init": "yes"}, []),
    "ip_flag": ({"ip": "127.0.0.1"}, ["--ip", "127.0.0.2"]),
    "ipc_flag_host": ({}, ["--default-ipc-mode", "host"]),
    "cgroupns_flag_bad": ({}, ["--default-cgroupns-mode", "x"]),
}


def _write(base: Path, name: str, doc: object) -> Path:
    path = base / f"{name}.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_files_are_refused_as_dockerd_refuses_them(tmp_path: Path, case: str) -> None:
    if not os.path.exists(DOCKERD):
        pytest.skip(f"{DOCKERD} is not installed (scripts/setup.sh installs docker.io)")
    doc, flags = CASES[case]
    path = _write(tmp_path, case, doc)
    private = [
        "-H",
        f"unix://{tmp_path}/d.sock",
        "--data-root",
        str(tmp_path / "root"),
        "--pidfile",
        str(tmp_path / "d.pid"),
    ]
    theirs = _run(
        [
            DOCKERD,
            "--config-file",
            str(path),
            "--exec-root",
            f"/run/wcfg-{os.getpid()}",
            *private,
            *flags,
        ]
    )
    ours = _run(
        [
            sys.executable,
            "-m",
            "wharfie.daemon",
            "--config-file",
            str(path),
            "--exec-root",
            str(tmp_path / "exec"),
            *private,
            *flags,
        ]
    )
    assert theirs.returncode == 1 and ours.returncode == 1, (theirs.stderr, ours.stderr)
    assert _message(ours.stderr) == _message(theirs.stderr)
    assert "Traceback" not in ours.stderr
    assert not (tmp_path / "root").exists()  # nothing was made


def test_missing_explicit_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"
    ours = _run([sys.executable, "-m", "wharfie.daemon", "--config-file", str(path)])
    assert ours.returncode == 1
    assert ours.stderr.strip().endswith(f"open {path}: no such file or directory")


def test_validate(tmp_path: Path) -> None:
    good = _write(tmp_path, "good", {"data-root": "/tmp/x", "mtu": 1400})
    ours = _run([sys.executable, "-m", "wharfie.daemon", "--config-file", str(good), "--validate"])
    assert (ours.returncode, ours.stdout) == (0, "configuration OK\n")
    bip = _write(tmp_path, "bip", {"bip": "10.1.0.300/24"})
    ours = _run([sys.executable, "-m", "wharfie.daemon", "--config-file", str(bip), "--validate"])
    assert ours.returncode == 1 and "invalid --bip" in ours.stderr, ours.stderr
    bad = _write(tmp_path, "bad", {"nope": 1})
    ours = _run([sys.executable, "-m", "wharfie.daemon", "--config-file", str(bad), "--validate"])
    assert ours.returncode == 1 and "don't match any configuration option: nope" in ours.stderr


def test_a_daemon_configured_by_its_file(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("wharfied needs root")
    n = (os.getpid() * 11) % 250
    d = FileDaemon(tmp_path / "w", 7)
    d.start(
        {
            "registry-mirrors": ["https://m.invalid"],
            "insecure-registries": ["10.250.0.0/16"],
            "log-driver": "json-file",
            "log-opts": {"max-size": "1m", "max-file": "2"},
            "live-restore": True,
            "dns": ["10.1.2.3"],
            "mtu": 1400,
            "default-address-pools": [{"base": f"10.{n}.0.0/16", "size": 26}],
            "runtimes": {"myrunc": {"path": "/usr/sbin/runc"}},
        }
    )
    try:
        import docker

        docker.APIClient(base_url=d.host).import_image_from_data(
            busybox_tar(tmp_path), repository="busybox", tag="latest"
        )
        info = json.loads(docker_cli(d, "info", "--format", "{{json .}}").stdout)
        assert info["DockerRootDir"] == str(d.data) and info["LoggingDriver"] == "json-file"
        assert info["RegistryConfig"]["Mirrors"] == ["https://m.invalid/"]
        assert "myrunc" in info["Runtimes"] and info["LiveRestoreEnabled"] is True
        bridge = json.loads(docker_cli(d, "network", "inspect", "bridge").stdout)[0]
        gateway = d.config["bip"].split("/")[0]
        assert bridge["IPAM"]["Config"] == [{"Subnet": d.subnet, "Gateway": gateway}]
        assert bridge["Options"]["com.docker.network.driver.mtu"] == "1400"
        assert Path(f"/sys/class/net/{d.bridge}/mtu").read_text().strip() == "1400"
        p = docker_cli(
            d,
            "run",
            "--name",
            "c1",
            "busybox",
            "sh",
            "-c",
            "cat /etc/resolv.conf; ip -o route; cat /sys/class/net/eth0/mtu",
        )
        assert p.returncode == 0, p.stderr
        out = p.stdout.decode()
        assert "nameserver 10.1.2.3" in out and f"via {gateway}" in out and "1400" in out
        log_config = json.loads(docker_cli(d, "inspect", "c1").stdout)[0]["HostConfig"]["LogConfig"]
        assert log_config == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "2"}}
        p = docker_cli(d, "network", "create", "pooled")
        assert p.returncode == 0, p.stderr
        net = json.loads(docker_cli(d, "network", "inspect", "pooled").stdout)[0]
        pool = d.config["default-address-pools"][0]["base"]  # type: ignore[index]
        assert net["IPAM"]["Config"][0]["Subnet"] == pool.replace("/16", "/26")
    finally:
        leaked = d.teardown()
    assert not leaked


def test_live_restore_false_stops_containers_with_the_daemon(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("wharfied needs root")
    d = FileDaemon(tmp_path / "w", 8)
    d.start({"live-restore": False})
    try:
        import docker

        docker.APIClient(base_url=d.host).import_image_from_data(
            busybox_tar(tmp_path), repository="busybox", tag="latest"
        )
        p = docker_cli(
            d, "run", "-d", "--name", "s1", "--stop-timeout", "1", "busybox", "sleep", "300"
        )
        assert p.returncode == 0, p.stderr
        pid = json.loads(docker_cli(d, "inspect", "s1").stdout)[0]["State"]["Pid"]
        assert os.path.exists(f"/proc/{pid}")
        info = json.loads(docker_cli(d, "info", "--format", "{{json .}}").stdout)
        assert info["LiveRestoreEnabled"] is False
        d.stop()
        assert not os.path.exists(f"/proc/{pid}") or "sleep" not in Path(
            f"/proc/{pid}/cmdline"
        ).read_text(errors="replace")
        d.start({"live-restore": False})
        state = json.loads(docker_cli(d, "inspect", "s1").stdout)[0]["State"]
        assert state["Status"] == "exited" and state["ExitCode"] == 137  # sleep ignores SIGTERM
    finally:
        leaked = d.teardown()
    assert not leaked


CONTAINER_DEFAULTS = {
    "labels": ["env=test", "team=a", "env=test"],
    "dns": ["10.9.9.9"],
    "dns-search": ["example.test"],
    "dns-opts": ["ndots:3"],
    "default-ulimits": {"nofile": {"Name": "nofile", "Hard": 4096, "Soft": 2048}},
    "default-shm-size": "32M",
    "init": True,
    "default-ipc-mode": "shareable",
    "default-cgroupns-mode": "private",
    "ip": "127.0.0.1",
}


def _defaults_story(cli: Callable[..., subprocess.CompletedProcess[bytes]]) -> list[Any]:
    """What a client sees of the daemon's container defaults."""
    seen: list[Any] = [sorted(json.loads(cli("info", "--format", "{{json .Labels}}").stdout))]
    script = "cat /etc/resolv.conf; ulimit -n; ulimit -Hn; ulimit -u; df -k /dev/shm | tail -1"
    for extra in ([], ["--ulimit", "nproc=100:200", "--dns-search", "x.test", "--shm-size", "8M"]):
        p = cli("run", "--name", "dc", *extra, "busybox", "sh", "-c", script)
        assert p.returncode == 0, p.stderr
        doc = json.loads(cli("inspect", "dc").stdout)[0]["HostConfig"]
        seen += [
            p.stdout.decode().split("\n"),
            doc["Ulimits"],
            doc["ShmSize"],
            doc["DnsSearch"],
            doc["DnsOptions"],
        ]
        cli("rm", "-f", "dc")
    p = cli("run", "-d", "--name", "dp", "-p", "80", "busybox", "sleep", "60")
    assert p.returncode == 0, p.stderr
    doc = json.loads(cli("inspect", "dp").stdout)[0]
    host = doc["HostConfig"]
    seen += [
        [(b["HostIp"], b["HostPort"] != "") for b in doc["NetworkSettings"]["Ports"]["80/tcp"]],
        [host["IpcMode"], host["CgroupnsMode"], host.get("Init", "absent")],
        cli("exec", "dp", "cat", "/proc/1/comm").stdout.decode().strip() != "sleep",  # an init
    ]
    cli("rm", "-f", "dp")
    assert cli("network", "create", "dnet").returncode == 0
    # on a user network the lines are compared as a set: wharfied writes them in Engine
    # 25's order (nameserver, search, options), dockerd 20.10 puts search first
    for extra in ([], ["--dns-opt", "timeout:2"]):
        p = cli("run", "--rm", "--network", "dnet", *extra, "busybox", "cat", "/etc/resolv.conf")
        seen.append(sorted(p.stdout.decode().splitlines()))
    cli("network", "rm", "dnet")
    return seen


def test_container_defaults_from_the_file_match_dockerd(tmp_path: Path) -> None:
    """labels, dns-search, dns-opts, default-ulimits and default-shm-size from daemon.json:
    `info`, the containers' resolv.conf, ulimits and /dev/shm, and inspect, with and
    without container settings of their own; the same on dockerd 20.10."""
    if os.geteuid() != 0 or not os.path.exists(DOCKERD):
        pytest.skip("needs root and dockerd")
    from support.peers import DockerPeer

    cfg = _write(tmp_path, "dockerd", CONTAINER_DEFAULTS)
    peer = DockerPeer(tmp_path / "dockerd", ("--config-file", str(cfg)))
    d = FileDaemon(tmp_path / "w", 8)
    tar = busybox_tar(tmp_path)
    try:
        peer.start()
        assert (
            peer.cli("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=tar).returncode == 0
        )
        d.start(dict(CONTAINER_DEFAULTS))
        import docker

        docker.APIClient(base_url=d.host).import_image_from_data(
            tar, repository="busybox", tag="latest"
        )

        def ours(*args: str) -> subprocess.CompletedProcess[bytes]:
            return docker_cli(d, *args)

        theirs, mine = _defaults_story(peer.cli), _defaults_story(ours)
    finally:
        peer.stop()
        leaked = d.teardown()
    assert not leaked
    assert mine == theirs
    assert mine[0] == ["env=test", "team=a"]
    assert "options ndots:3" in mine[1] and "2048" in mine[1] and "4096" in mine[1]
    assert mine[2] == [{"Name": "nofile", "Hard": 4096, "Soft": 2048}] and mine[3] == 32 << 20
    assert mine[-1] == ["nameserver 127.0.0.11", "options timeout:2 ndots:0", "search example.test"]
    assert mine[-5:-2] == [[("127.0.0.1", True)], ["shareable", "private", "absent"], True]
