"""The create body, compared with the shapes of docker-api-notes §2.1."""

from pathlib import Path

import pytest

from wharfie.cli.createbody import RUN_FLAGS, build, parse_ports
from wharfie.cli.flags import parse
from wharfie.cli.run import full_name, split_ref, start_error_status
from wharfie.errors import InvalidArgument


def body(*argv: str, environ: dict[str, str] | None = None) -> dict:
    f = parse(list(argv), RUN_FLAGS, interspersed=False)
    return build(f, f.args[0], f.args[1:], environ or {})


def test_notes_example() -> None:
    b = body(
        "-d",
        "--name",
        "web",
        "-p",
        "8080:80",
        "-v",
        "/tmp:/data",
        "-e",
        "FOO=bar",
        "--network",
        "bridge",
        "--memory",
        "64m",
        "--cpus",
        "0.5",
        "busybox",
        "sleep",
        "30",
    )
    assert b["Image"] == "busybox" and b["Cmd"] == ["sleep", "30"] and b["Env"] == ["FOO=bar"]
    assert b["ExposedPorts"] == {"80/tcp": {}}
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (False, False, False)
    assert (b["Tty"], b["OpenStdin"], b["StdinOnce"]) == (False, False, False)
    assert b["Entrypoint"] is None and b["Labels"] == {}
    h = b["HostConfig"]
    assert h["Binds"] == ["/tmp:/data"]
    assert h["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert h["NetworkMode"] == "bridge" and h["Memory"] == 67108864
    assert h["NanoCpus"] == 500000000 and h["AutoRemove"] is False
    assert h["LogConfig"] == {"Type": "", "Config": {}}
    assert h["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert h["ConsoleSize"] == [0, 0]
    assert list(b["NetworkingConfig"]["EndpointsConfig"]) == ["bridge"]


def test_defaults_and_interactive_tty() -> None:
    b = body("--rm", "-it", "busybox")
    assert b["Cmd"] is None and b["Env"] == [] and b["Volumes"] == {}
    assert (b["AttachStdin"], b["AttachStdout"], b["AttachStderr"]) == (True, True, True)
    assert (b["Tty"], b["OpenStdin"], b["StdinOnce"]) == (True, True, True)
    assert b["HostConfig"]["AutoRemove"] is True
    assert b["HostConfig"]["NetworkMode"] == "default"
    assert "default" in b["NetworkingConfig"]["EndpointsConfig"]
    assert "ExposedPorts" not in b and "Healthcheck" not in b
    assert b["HostConfig"]["PidsLimit"] is None


def test_resources_security_and_health(tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nX=1\nFROMHOST\n\nMISSING\n")
    b = body(
        "--env-file",
        str(env_file),
        "-e",
        "HOME2",
        "-l",
        "a=b",
        "--label",
        "c",
        "--pids-limit",
        "50",
        "--ulimit",
        "nofile=1024:2048",
        "--cap-add",
        "NET_ADMIN",
        "--cap-drop",
        "ALL",
        "--privileged",
        "--read-only",
        "--security-opt",
        "no-new-privileges",
        "--restart",
        "on-failure:3",
        "--init",
        "--tmpfs",
        "/run:size=1m",
        "--mount",
        "type=bind,source=/src,target=/dst,readonly",
        "--health-cmd",
        "true",
        "--health-interval",
        "5s",
        "--health-retries",
        "2",
        "--stop-signal",
        "SIGINT",
        "--stop-timeout",
        "7",
        "-c",
        "512",
        "--memory-swap",
        "-1",
        "--entrypoint",
        "",
        "-w",
        "/w",
        "-u",
        "1000",
        "-h",
        "box",
        "--log-driver",
        "none",
        "--log-opt",
        "max-size=1m",
        "--runtime",
        "runc",
        "img",
        environ={"FROMHOST": "h", "HOME2": "/root"},
    )
    assert b["Env"] == ["X=1", "FROMHOST=h", "HOME2=/root"]
    assert b["Labels"] == {"a": "b", "c": ""}
    assert b["Entrypoint"] == [""] and b["WorkingDir"] == "/w" and b["User"] == "1000"
    assert b["Hostname"] == "box" and b["StopSignal"] == "SIGINT" and b["StopTimeout"] == 7
    assert b["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 5_000_000_000,
        "Timeout": 0,
        "StartPeriod": 0,
        "Retries": 2,
    }
    h = b["HostConfig"]
    assert h["PidsLimit"] == 50 and h["CpuShares"] == 512 and h["MemorySwap"] == -1
    assert h["Ulimits"] == [{"Name": "nofile", "Hard": 2048, "Soft": 1024}]
    assert h["CapAdd"] == ["NET_ADMIN"] and h["CapDrop"] == ["ALL"]
    assert h["Privileged"] and h["ReadonlyRootfs"] and h["Init"] is True
    assert h["SecurityOpt"] == ["no-new-privileges"]
    assert h["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert h["Tmpfs"] == {"/run": "size=1m"}
    assert h["Mounts"] == [{"Type": "bind", "Source": "/src", "Target": "/dst", "ReadOnly": True}]
    assert h["LogConfig"] == {"Type": "none", "Config": {"max-size": "1m"}}
    assert h["Runtime"] == "runc"


def test_no_healthcheck_and_anonymous_volume() -> None:
    b = body("--no-healthcheck", "-v", "/data", "img")
    assert b["Healthcheck"] == {"Test": ["NONE"]}
    assert b["Volumes"] == {"/data": {}} and b["HostConfig"]["Binds"] is None


def test_ports() -> None:
    exposed, bindings = parse_ports(["127.0.0.1:8080:80/udp", "90", "[::1]:1:2"])
    assert exposed == {"80/udp": {}, "90/tcp": {}, "2/tcp": {}}
    assert bindings["80/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "8080"}]
    assert bindings["90/tcp"] == [{"HostIp": "", "HostPort": ""}]
    assert bindings["2/tcp"] == [{"HostIp": "::1", "HostPort": "1"}]
    with pytest.raises(InvalidArgument):
        parse_ports(["a:b:c:d"])


def test_conflicts() -> None:
    with pytest.raises(InvalidArgument, match="conflicting options"):
        body("--rm", "--restart", "always", "img")
    with pytest.raises(InvalidArgument):
        body("--restart", "sometimes", "img")


def test_refs_and_exit_statuses() -> None:
    assert split_ref("busybox") == ("busybox", "latest")
    assert split_ref("localhost:5000/a/b:1") == ("localhost:5000/a/b", "1")
    assert split_ref("localhost:5000/a") == ("localhost:5000/a", "latest")
    assert full_name("busybox") == "docker.io/library/busybox"
    assert full_name("u/x") == "docker.io/u/x"
    assert full_name("localhost:5000/x") == "localhost:5000/x"
    assert start_error_status('exec: "nope": executable file not found in $PATH') == 127
    assert start_error_status("open /x: no such file or directory") == 127
    assert start_error_status("exec /x: permission denied") == 126
    assert start_error_status("something else") == 125
