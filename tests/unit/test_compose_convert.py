"""A normalized service → the Docker API create body (and network/volume bodies)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from wharfie.compose import convert, plan, syntax
from wharfie.compose.loader import Options, load


def body_of(tmp_path: Path, text: str, service: str = "web") -> dict[str, object]:
    (tmp_path / "compose.yaml").write_text(textwrap.dedent(text))
    p = load(Options(cwd=str(tmp_path), environ={}, project_name="demo"))
    ctx = convert.Context(p.model, p.working_dir, p.config_files)
    return convert.create_body(ctx, service, p.services[service], 1, f"demo-{service}-1")


def test_create_body(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("x")
    body = body_of(
        tmp_path,
        """
        services:
          web:
            image: busybox
            command: [httpd, -f]
            entrypoint: /bin/sh -c
            environment: {A: "1"}
            working_dir: /w
            user: "1000"
            labels: {team: x}
            ports: ["127.0.0.1:8080:80", "53/udp"]
            expose: ["9000"]
            volumes: [data:/data:ro, ./conf:/conf, {type: tmpfs, target: /t, tmpfs: {size: 1k}}]
            networks: {front: {aliases: [www], ipv4_address: 172.31.0.9}, back: {}}
            healthcheck: {test: [CMD, "true"], interval: 1s, timeout: 500ms, retries: 2}
            restart: on-failure:3
            init: true
            tty: true
            stdin_open: true
            stop_signal: SIGINT
            stop_grace_period: 1m30s
            deploy: {resources: {limits: {memory: 1g, cpus: "1.5", pids: 20}}}
            ulimits: {nofile: {soft: 10, hard: 20}}
            cap_add: [NET_ADMIN]
            cap_drop: [ALL]
            read_only: true
            tmpfs: [/run]
            extra_hosts: {db: 10.0.0.2}
            dns: 1.1.1.1
            hostname: h
            secrets: [pw]
        networks: {front: {}, back: {}}
        volumes: {data: {}}
        secrets: {pw: {file: ./pw}}
    """,
    )
    hc = body["HostConfig"]
    assert isinstance(hc, dict)
    assert body["Cmd"] == ["httpd", "-f"]
    assert body["Entrypoint"] == ["/bin/sh", "-c"]
    assert body["Env"] == ["A=1"]
    assert (body["WorkingDir"], body["User"], body["Hostname"]) == ("/w", "1000", "h")
    assert body["Tty"] is True and body["OpenStdin"] is True
    assert body["StopSignal"] == "SIGINT" and body["StopTimeout"] == 90
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "9000/tcp": {}}
    assert body["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 10**9,
        "Timeout": 5 * 10**8,
        "Retries": 2,
    }
    labels = body["Labels"]
    assert isinstance(labels, dict)
    assert labels["team"] == "x"
    assert labels[plan.PROJECT] == "demo" and labels[plan.SERVICE] == "web"
    assert labels[plan.NUMBER] == "1" and labels[plan.ONEOFF] == "False"
    assert len(labels[plan.CONFIG_HASH]) == 64
    assert hc["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
    }
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert hc["Binds"] == [f"{tmp_path}/conf:/conf", f"{tmp_path}/pw:/run/secrets/pw:ro"]
    assert hc["Mounts"] == [
        {"Type": "volume", "Source": "demo_data", "Target": "/data", "ReadOnly": True},
        {"Type": "tmpfs", "Target": "/t", "ReadOnly": False, "TmpfsOptions": {"SizeBytes": 1024}},
    ]
    assert hc["Tmpfs"] == {"/run": ""}
    assert (hc["Memory"], hc["NanoCpus"], hc["PidsLimit"]) == (2**30, 1_500_000_000, 20)
    assert hc["Ulimits"] == [{"Name": "nofile", "Soft": 10, "Hard": 20}]
    assert (hc["Init"], hc["ReadonlyRootfs"]) == (True, True)
    assert (hc["CapAdd"], hc["CapDrop"]) == (["NET_ADMIN"], ["ALL"])
    assert hc["ExtraHosts"] == ["db:10.0.0.2"] and hc["Dns"] == ["1.1.1.1"]
    assert hc["NetworkMode"] == "demo_back"  # same priority: first by name
    assert body["NetworkingConfig"] == {"EndpointsConfig": {"demo_back": {"Aliases": ["web"]}}}


def test_secondary_network_endpoint(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: b\n    networks:\n"
        "      front: {aliases: [www], ipv4_address: 172.31.0.9, priority: 10}\n"
        "      back: {}\nnetworks: {front: {}, back: {}}\n"
    )
    p = load(Options(cwd=str(tmp_path), environ={}, project_name="demo"))
    web = p.services["web"]
    assert convert.primary_network(web) == "front"
    assert convert.secondary_networks(web) == ["back"]
    assert convert.endpoint("web", web, "front") == {
        "Aliases": ["web", "www"],
        "IPAMConfig": {"IPv4Address": "172.31.0.9"},
    }


def test_network_mode_and_fallback(tmp_path: Path) -> None:
    body = body_of(tmp_path, "services: {web: {image: b, network_mode: host}}\n")
    assert body["HostConfig"]["NetworkMode"] == "host"  # type: ignore[index]
    assert "NetworkingConfig" not in body
    p = load(Options(cwd=str(tmp_path), environ={}, project_name="demo"))
    ctx = convert.Context(p.model, p.working_dir, p.config_files, networks_supported=False)
    p.services["web"].pop("network_mode")
    p.services["web"]["networks"] = {"default": {}}
    assert convert.network_mode(ctx, p.services["web"]) == "bridge"


def test_network_and_volume_bodies(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(
        textwrap.dedent("""
        services: {web: {image: b, networks: [n], volumes: ["v:/v"]}}
        networks:
          n:
            internal: true
            driver_opts: {mtu: 1400}
            ipam: {config: [{subnet: 172.28.0.0/16, gateway: 172.28.0.1}]}
        volumes: {v: {driver_opts: {type: tmpfs, device: tmpfs}}}
    """)
    )
    p = load(Options(cwd=str(tmp_path), environ={}, project_name="demo"))
    ctx = convert.Context(p.model, p.working_dir, p.config_files)
    net = convert.network_body(ctx, "n", p.model["networks"]["n"])
    assert net["Name"] == "demo_n" and net["Internal"] is True
    assert net["Options"] == {"mtu": "1400"}
    assert net["IPAM"]["Config"] == [{"Subnet": "172.28.0.0/16", "Gateway": "172.28.0.1"}]
    assert net["Labels"][plan.NETWORK] == "n" and net["Labels"][plan.PROJECT] == "demo"
    vol = convert.volume_body(ctx, "v", p.model["volumes"]["v"])
    assert vol["Name"] == "demo_v" and vol["DriverOpts"] == {"type": "tmpfs", "device": "tmpfs"}
    assert vol["Labels"][plan.VOLUME] == "v"


def test_syntax_helpers() -> None:
    assert syntax.duration_ns("1m30s") == 90 * 10**9
    assert syntax.duration_ns("1.5s") == 1_500_000_000
    assert syntax.duration_ns(2) == 2 * 10**9
    assert syntax.byte_size("512m") == 512 * 2**20
    assert syntax.byte_size("1gb") == 2**30
    assert syntax.parse_port("[::1]:80:80") == [
        {"target": 80, "published": "80", "host_ip": "::1", "protocol": "tcp", "mode": "ingress"}
    ]
    assert syntax.parse_port("9000-9001:80") is not None
    assert syntax.parse_port("8000-8010:80")[0]["published"] == "8000-8010"
    assert syntax.parse_volume("/a:/b:ro,z")["read_only"] is True
    assert syntax.parse_volume("/anon") == {"type": "volume", "target": "/anon"}


def test_recreate_reuses_anonymous_volumes() -> None:
    anon1, anon2, named = "a" * 64, "b" * 64, "demo_data"
    body = {
        "HostConfig": {
            "Mounts": [
                {"Type": "volume", "Source": "", "Target": "/cache", "ReadOnly": False},
                {"Type": "volume", "Source": named, "Target": "/data", "ReadOnly": False},
            ],
            "Binds": ["/h:/conf:ro"],
        }
    }
    old = [
        {"Type": "volume", "Name": anon1, "Destination": "/cache"},
        {"Type": "volume", "Name": anon2, "Destination": "/var/lib/image-volume"},
        {"Type": "volume", "Name": named, "Destination": "/data"},
        {"Type": "volume", "Name": "c" * 64, "Destination": "/conf"},
        {"Type": "bind", "Source": "/h", "Destination": "/h"},
    ]
    convert.reuse_anonymous_volumes(body, old)
    assert body["HostConfig"]["Mounts"] == [
        {"Type": "volume", "Source": named, "Target": "/data", "ReadOnly": False},
        {"Type": "volume", "Source": anon1, "Target": "/cache", "ReadOnly": False},
        {"Type": "volume", "Source": anon2, "Target": "/var/lib/image-volume", "ReadOnly": False},
    ]
