"""engine.validate: Docker's create/exec bodies, binds, tmpfs, log options, keys, signals."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from wharfie.engine import validate as v
from wharfie.errors import InvalidArgument


def create(host: dict[str, Any] | None = None, **config: Any) -> v.CreateConfig:
    body: dict[str, Any] = {"Image": "busybox", **config}
    if host is not None:
        body["HostConfig"] = host
    return v.container_create(body)


def error(host: dict[str, Any] | None = None, **config: Any) -> str:
    with pytest.raises(InvalidArgument) as e:
        create(host, **config)
    return str(e.value)


# ---------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([1], "cannot unmarshal array into Go value of type runconfig.ContainerConfigWrapper"),
        ("x", "cannot unmarshal string into Go value of type runconfig.ContainerConfigWrapper"),
        (3, "cannot unmarshal number into Go value of type runconfig.ContainerConfigWrapper"),
    ],
)
def test_non_object_body(body: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        v.container_create(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"Image": "x", "HostConfig": {"Memory": "1g"}},
            "invalid JSON: json: cannot unmarshal string into Go struct field "
            "HostConfig.HostConfig.Memory of type int64",
        ),
        (
            {"Image": "x", "HostConfig": {"Memory": 1.5}},
            "cannot unmarshal number 1.5 into Go struct field "
            "HostConfig.HostConfig.Memory of type int64",
        ),
        (
            {"Image": "x", "HostConfig": {"BlkioWeight": -1}},
            "cannot unmarshal number -1 into Go struct field "
            "HostConfig.HostConfig.BlkioWeight of type uint16",
        ),
        (
            {"Image": 5},
            "cannot unmarshal number into Go struct field ContainerConfigWrapper.Image "
            "of type string",
        ),
        (
            {"Image": "x", "Tty": "yes"},
            "cannot unmarshal string into Go struct field ContainerConfigWrapper.Tty of type bool",
        ),
        (
            {"Image": "x", "Cmd": {"a": 1}},
            "cannot unmarshal object into Go struct field ContainerConfigWrapper.Cmd "
            "of type string",
        ),
        (
            {"Image": "x", "Env": "A=1"},
            "cannot unmarshal string into Go struct field ContainerConfigWrapper.Env "
            "of type []string",
        ),
        (
            {"Image": "x", "Env": [1]},
            "cannot unmarshal number into Go struct field ContainerConfigWrapper.Env "
            "of type string",
        ),
        (
            {"Image": "x", "HostConfig": []},
            "cannot unmarshal array into Go struct field ContainerConfigWrapper.HostConfig "
            "of type container.HostConfig",
        ),
        (
            {"Image": "x", "HostConfig": {"RestartPolicy": {"MaximumRetryCount": "3"}}},
            "RestartPolicy.HostConfig.RestartPolicy.MaximumRetryCount of type int",
        ),
        (
            {"Image": "x", "HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "1"}]}},
            "Ulimit.HostConfig.Ulimits.Soft of type int64",
        ),
        (
            {"Image": "x", "Labels": {"a": 1}},
            "cannot unmarshal number into Go struct field ContainerConfigWrapper.Labels "
            "of type string",
        ),
        (
            {"Image": "x", "HostConfig": {"Privileged": 1}},
            "cannot unmarshal number into Go struct field "
            "HostConfig.HostConfig.Privileged of type bool",
        ),
    ],
)
def test_type_errors(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as e:
        v.container_create(body)
    assert message in str(e.value)


def test_nulls_and_unknown_fields_are_accepted() -> None:
    body = {
        "Image": "busybox",
        "Cmd": None,
        "Env": None,
        "Labels": None,
        "Whatever": [1, 2],
        "HostConfig": {
            "Memory": None,
            "Binds": None,
            "LogConfig": None,
            "RestartPolicy": None,
            "Unknown": "x",
        },
        "NetworkingConfig": None,
    }
    c = v.container_create(body)
    assert c.config["Whatever"] == [1, 2]
    assert c.host_config["Unknown"] == "x"
    assert c.networking == {"EndpointsConfig": {}}


@pytest.mark.parametrize("body", [None, {}, {"HostConfig": {"Memory": 0}}])
def test_empty_config(body: object) -> None:
    with pytest.raises(InvalidArgument, match=r"^config cannot be empty in order to create a "):
        v.container_create(body)


def test_cmd_and_entrypoint_strings_become_lists() -> None:
    c = create(Cmd="echo hi", Entrypoint="/bin/sh")
    assert c.config["Cmd"] == ["echo hi"]
    assert c.config["Entrypoint"] == ["/bin/sh"]


# ---------------------------------------------------------------- defaults


def test_defaults_as_inspect_reports_them() -> None:
    body = {
        "Image": "busybox",
        "Cmd": ["sleep", "30"],
        "Env": ["FOO=bar"],
        "HostConfig": {
            "NetworkMode": "default",
            "LogConfig": {"Type": "", "Config": {}},
            "RestartPolicy": {"Name": "no"},
            "ConsoleSize": [0, 0],
        },
        "NetworkingConfig": {"EndpointsConfig": {"default": {}}},
    }
    c = v.container_create(body)
    h = c.host_config
    assert h["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert h["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert h["NetworkMode"] == "bridge"
    assert h["ShmSize"] == 67108864
    assert h["Ulimits"] is None  # not sent: null, as moby
    assert h["Memory"] == 0 and h["MemorySwap"] == 0
    assert h["Privileged"] is False and h["AutoRemove"] is False
    assert h["CgroupnsMode"] in ("host", "private")
    assert h["IpcMode"] == "private"
    assert h["Runtime"] == ""
    assert h["PidsLimit"] is None and h["CapAdd"] is None
    assert "/proc/kcore" in h["MaskedPaths"] and "/proc/sys" in h["ReadonlyPaths"]
    assert c.config["Env"] == ["FOO=bar"]
    assert c.config["Cmd"] == ["sleep", "30"]
    assert c.config["Entrypoint"] is None
    assert c.config["Labels"] == {}
    assert c.config["Tty"] is False
    assert c.networking == {"EndpointsConfig": {"default": {}}}


def test_no_host_config_at_all() -> None:
    c = v.container_create({"Image": "busybox"})
    assert c.host_config["NetworkMode"] == "bridge"
    assert c.host_config["LogConfig"]["Type"] == "json-file"


def test_privileged_gets_no_masked_paths() -> None:
    h = create({"Privileged": True}).host_config
    assert h.get("MaskedPaths") is None and h.get("ReadonlyPaths") is None


def test_memory_swap_defaults_to_twice_memory() -> None:
    assert create({"Memory": 64 << 20}).host_config["MemorySwap"] == 128 << 20
    assert create({"Memory": 64 << 20, "MemorySwap": -1}).host_config["MemorySwap"] == -1


def test_client_fields_are_kept() -> None:
    h = create({"LogConfig": {"Type": "json-file", "Config": {"max-size": "10m"}}}).host_config
    assert h["LogConfig"]["Config"] == {"max-size": "10m"}
    assert create({"NetworkMode": "host"}).host_config["NetworkMode"] == "host"
    assert create({"NetworkMode": "none"}).host_config["NetworkMode"] == "none"


def test_cgroupns_default_follows_the_host(tmp_path: Any) -> None:
    assert v.default_cgroupns_mode(str(tmp_path)) == "host"
    (tmp_path / "cgroup.controllers").write_text("cpu memory\n")
    assert v.default_cgroupns_mode(str(tmp_path)) == "private"


# ---------------------------------------------------------------- host config errors


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            {"Name": "xyz"},
            "invalid restart policy: unknown policy 'xyz'; use one of 'no', 'always', "
            "'on-failure', or 'unless-stopped'",
        ),
        (
            {"Name": "always", "MaximumRetryCount": 3},
            "invalid restart policy: maximum retry count can only be used with 'on-failure'",
        ),
        (
            {"Name": "no", "MaximumRetryCount": -1},
            "invalid restart policy: maximum retry count can only be used with 'on-failure' "
            "and cannot be negative",
        ),
        (
            {"Name": "on-failure", "MaximumRetryCount": -1},
            "invalid restart policy: maximum retry count cannot be negative",
        ),
    ],
)
def test_restart_policy_errors(policy: dict[str, Any], message: str) -> None:
    assert error({"RestartPolicy": policy}) == message


@pytest.mark.parametrize("name", ["no", "always", "unless-stopped", "on-failure", ""])
def test_restart_policies_accepted(name: str) -> None:
    h = create({"RestartPolicy": {"Name": name}}).host_config
    assert h["RestartPolicy"]["Name"] == (name or "no")
    assert create({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 5}})


def test_auto_remove_with_restart_policy() -> None:
    msg = error({"AutoRemove": True, "RestartPolicy": {"Name": "always"}})
    assert msg == "can't create 'AutoRemove' container with restart policy"
    assert create({"AutoRemove": True, "RestartPolicy": {"Name": "no"}})


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ({"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
        (
            {"MemorySwap": 100 << 20},
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        (
            {"Memory": 100 << 20, "MemorySwap": 50 << 20},
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            {"Memory": 100 << 20, "MemorySwap": -9108},
            "invalid MemorySwap -9108: use -1 for unlimited swap, or a limit in bytes",
        ),
        ({"MemoryReservation": 1024}, "Minimum memory reservation allowed is 6MB"),
        (
            {"Memory": 10 << 20, "MemoryReservation": 20 << 20},
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
        (
            {"MemorySwappiness": 101},
            "Invalid value: 101, valid memory swappiness range is 0-100",
        ),
        (
            {"NanoCpus": 500000000, "CpuPeriod": 100000},
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            {"NanoCpus": 500000000, "CpuQuota": 50000},
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (
            {"NanoCpus": 750000},
            f"Range of CPUs is from 0.01 to {v.host_cpus()}.00, as there are only "
            f"{v.host_cpus()} CPUs available",
        ),
        (
            {"CpuPeriod": 10},
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        ({"CpuQuota": 10}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
        ({"ShmSize": -1}, "SHM size can not be less than 0"),
        ({"CapAdd": ["CAP_FOO"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        ({"CapDrop": ["foo"]}, 'invalid CapDrop: unknown capability: "CAP_FOO"'),
        ({"SecurityOpt": ["bogus"]}, 'invalid --security-opt: "bogus"'),
        ({"SecurityOpt": ["foo=bar"]}, 'invalid --security-opt 2: "foo=bar"'),
        (
            {"SecurityOpt": ["no-new-privileges=maybe"]},
            'invalid --security-opt 2: "no-new-privileges=maybe"',
        ),
        (
            {"LogConfig": {"Type": "syslog"}},
            "logger: no log driver named 'syslog' is registered",
        ),
        (
            {"LogConfig": {"Type": "json-file", "Config": {"max-size": "10q"}}},
            "invalid size: '10q'",
        ),
        (
            {"LogConfig": {"Type": "json-file", "Config": {"max-file": "0"}}},
            "max-file cannot be less than 1",
        ),
        (
            {"LogConfig": {"Type": "json-file", "Config": {"foo": "1"}}},
            "unknown log opt 'foo' for json-file log driver",
        ),
        (
            {"LogConfig": {"Type": "none", "Config": {"max-size": "1m"}}},
            "unknown log opt 'max-size' for none log driver",
        ),
        ({"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: nofiles"),
        (
            {"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 1}]},
            "ulimit soft limit must be less than or equal to hard limit: 10 > 1",
        ),
        ({"Binds": ["/a:/b:/c:/d"]}, "invalid volume specification: '/a:/b:/c:/d'"),
        ({"Binds": ["/a::/b"]}, "invalid volume specification: '/a::/b'"),
        ({"Binds": ["/a:/b:rx"]}, "invalid mode: rx"),
        ({"Binds": ["/a:/b:ro,rw"]}, "invalid mode: ro,rw"),
        (
            {"Binds": ["/a:rel"]},
            "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path "
            "must be absolute",
        ),
        (
            {"Binds": ["/a:/"]},
            'invalid mount config for type "bind": invalid specification: destination can\'t '
            "be '/'",
        ),
        (
            {"Tmpfs": {"run": ""}},  # moby's ValidateTmpfsMountDestination: no prefix
            "invalid mount path: 'run' mount path must be absolute",
        ),
    ],
)
def test_host_config_errors(host: dict[str, Any], message: str) -> None:
    assert error(host) == message


def test_nano_cpus_range() -> None:
    n = v.host_cpus()
    assert create({"NanoCpus": n * 1_000_000_000})
    expected = f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available"
    assert error({"NanoCpus": n * 1_000_000_000 + 1}) == expected
    assert error({"NanoCpus": -1}) == expected


def test_network_modes() -> None:
    # names of user networks and container:<ref> pass: the engine looks them up
    assert create({"NetworkMode": "mynet"}).host_config["NetworkMode"] == "mynet"
    assert create({"NetworkMode": "container:abc"}).host_config["NetworkMode"] == "container:abc"
    assert error({"NetworkMode": "container:"}) == "invalid container format container:<name|id>"


def test_security_opts_accepted() -> None:
    opts = [
        "seccomp=unconfined",
        "no-new-privileges",
        "no-new-privileges:true",
        "no-new-privileges=false",
        "label=disable",
        "apparmor=unconfined",
    ]
    h = create({"SecurityOpt": opts}).host_config
    assert h["SecurityOpt"] == opts
    parsed = v.parse_security_opts(opts)
    assert parsed.no_new_privileges is False  # the last one wins
    assert parsed.seccomp == "unconfined"
    assert parsed.ignored == ["label=disable", "apparmor=unconfined"]
    assert len(v.warnings(h)) == 2
    assert v.parse_security_opts(["no-new-privileges=true"]).no_new_privileges is True
    assert v.parse_security_opts(['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']).seccomp == (
        '{"defaultAction":"SCMP_ACT_ALLOW"}'
    )


def test_capabilities_normalised() -> None:
    assert v.normalise_caps(["net_admin", "CAP_SYS_ADMIN", "all"]) == [
        "CAP_NET_ADMIN",
        "CAP_SYS_ADMIN",
        "ALL",
    ]
    assert create({"CapAdd": "NET_ADMIN"}).host_config["CapAdd"] == ["NET_ADMIN"]


# ---------------------------------------------------------------- config errors


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"WorkingDir": "rel"},
            "the working directory 'rel' is invalid, it needs to be an absolute path",
        ),
        ({"StopSignal": "SIGFOO"}, "Invalid signal: SIGFOO"),
        ({"Healthcheck": {"Interval": 10}}, "Interval in Healthcheck cannot be less than 1ms"),
        ({"Healthcheck": {"Timeout": 999_999}}, "Timeout in Healthcheck cannot be less than 1ms"),
        ({"Healthcheck": {"StartPeriod": 5}}, "StartPeriod in Healthcheck cannot be less than 1ms"),
        (
            {"Healthcheck": {"StartInterval": 5}},
            "StartInterval in Healthcheck cannot be less than 1ms",
        ),
        ({"Healthcheck": {"Retries": -1}}, "Retries in Healthcheck cannot be negative"),
        ({"Healthcheck": {"Test": ["FOO", "x"]}}, "invalid Healthcheck.Test: unknown type 'FOO'"),
        ({"Healthcheck": {"Test": ["CMD"]}}, "invalid Healthcheck.Test: no command given"),
        ({"Env": ["=x"]}, "invalid environment variable: =x"),
    ],
)
def test_config_errors(config: dict[str, Any], message: str) -> None:
    assert error(None, **config) == message


def test_healthcheck_accepted() -> None:
    hc = {"Test": ["CMD-SHELL", "true"], "Interval": 1_000_000, "Retries": 3}
    assert create(None, Healthcheck=hc).config["Healthcheck"] == hc
    assert create(None, Healthcheck={"Test": ["NONE"]})


# ---------------------------------------------------------------- binds, tmpfs, log opts


def test_parse_binds() -> None:
    assert v.parse_binds(["/tmp:/data"]) == [
        {
            "Type": "bind",
            "Source": "/tmp",
            "Destination": "/data",
            "Mode": "",
            "RW": True,
            "Propagation": "rprivate",
        }
    ]
    (m,) = v.parse_binds(["/src/:/dst/x/:ro,rshared,z"])
    assert (m["Source"], m["Destination"], m["RW"], m["Propagation"], m["Mode"]) == (
        "/src",
        "/dst/x",
        False,
        "rshared",
        "ro,rshared,z",
    )
    (m,) = v.parse_binds(["/a:/b:rw"])
    assert m["RW"] is True
    (m,) = v.parse_binds(["/a:/b:Z"])
    assert m["RW"] is True and m["Propagation"] == "rprivate"


def test_parse_binds_named_volumes() -> None:
    (m,) = v.parse_binds(["data:/var/lib/x:ro,nocopy"])
    assert m == {
        "Type": "volume",
        "Name": "data",
        "Destination": "/var/lib/x",
        "Mode": "ro,nocopy",
        "RW": False,
        "Propagation": "",
    }
    (m,) = v.parse_binds(["/anon"])
    assert m["Type"] == "volume" and m["Name"] == "" and m["Destination"] == "/anon"
    (m,) = v.parse_binds(["/anon:ro"])
    assert m["Type"] == "volume" and m["Destination"] == "/anon" and m["RW"] is False
    with pytest.raises(InvalidArgument, match="invalid mode: nocopy"):
        v.parse_binds(["/a:/b:nocopy"])


def test_parse_tmpfs() -> None:
    assert v.parse_tmpfs({"/run": "", "/a": "size=64m,mode=1777"}) == [
        {"Destination": "/a", "Options": ["noexec", "nosuid", "nodev", "size=64m", "mode=1777"]},
        {"Destination": "/run", "Options": ["noexec", "nosuid", "nodev"]},
    ]
    (t,) = v.parse_tmpfs({"/x": "exec,suid"})
    assert t["Options"] == ["nodev", "exec", "suid"]
    with pytest.raises(InvalidArgument, match="invalid tmpfs option"):
        v.parse_tmpfs({"/x": "bogus"})


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({}, (-1, 1)),
        ({"max-size": "10m"}, (10 << 20, 1)),
        ({"max-size": "1g", "max-file": "3"}, (1 << 30, 3)),
        ({"max-size": "512k"}, (512 << 10, 1)),
        ({"max-size": "100"}, (100, 1)),
        ({"max-size": "1.5m"}, (int(1.5 * (1 << 20)), 1)),
        ({"max-size": "2MiB"}, (2 << 20, 1)),
        ({"max-size": "2mb"}, (2 << 20, 1)),
    ],
)
def test_parse_log_opts(cfg: dict[str, str], expected: tuple[int, int]) -> None:
    assert v.parse_log_opts(cfg) == expected


@pytest.mark.parametrize("size", ["", "m", "-1m", "1x", "1 2m", "abc"])
def test_bad_sizes(size: str) -> None:
    cfg = {"max-size": size}
    if size == "":
        assert v.parse_log_opts(cfg) == (-1, 1)
        return
    with pytest.raises(InvalidArgument, match="invalid size"):
        v.parse_log_opts(cfg)


def test_bad_max_file() -> None:
    with pytest.raises(InvalidArgument, match='parsing "x": invalid syntax'):
        v.parse_log_opts({"max-file": "x"})


# ---------------------------------------------------------------- detach keys, signals, exec


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-a", b"\x01"),
        ("ctrl-z", b"\x1a"),
        ("ctrl-@", b"\x00"),
        ("ctrl-[", b"\x1b"),
        ("ctrl-\\", b"\x1c"),
        ("ctrl-]", b"\x1d"),
        ("ctrl-^", b"\x1e"),
        ("ctrl-_", b"\x1f"),
        ("a,b", b"ab"),
        ("ctrl-x,x", b"\x18x"),
    ],
)
def test_detach_keys(spec: str, expected: bytes) -> None:
    assert v.detach_keys(spec) == expected


@pytest.mark.parametrize("spec", ["ctrl-", "ctrl-1", "foo", "ctrl-A", "a,,b"])
def test_bad_detach_keys(spec: str) -> None:
    with pytest.raises(InvalidArgument, match=rf"^Invalid detach keys \({spec}\) provided$"):
        v.detach_keys(spec)


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("KILL", 9),
        ("SIGKILL", 9),
        ("sigterm", 15),
        ("9", 9),
        ("HUP", 1),
        ("SIGUSR1", 10),
        ("SIGRTMIN", 34),
        ("SIGRTMIN+3", 37),
        ("RTMAX", 64),
        ("RTMAX-1", 63),
        ("40", 40),
    ],
)
def test_signal_number(name: str, number: int) -> None:
    assert v.signal_number(name) == number


@pytest.mark.parametrize("name", ["FOO", "SIGFOO", "0", "-1", "", "SIGRTMIN+20"])
def test_bad_signal(name: str) -> None:
    with pytest.raises(InvalidArgument, match=f"^Invalid signal: {re.escape(name)}$"):
        v.signal_number(name)


def test_exec_create_defaults() -> None:
    out = v.exec_create({"Cmd": ["sh"], "Tty": True, "AttachStdin": True})
    assert out == {
        "Cmd": ["sh"],
        "Tty": True,
        "AttachStdin": True,
        "AttachStdout": False,
        "AttachStderr": False,
        "Detach": False,
        "Privileged": False,
        "User": "",
        "DetachKeys": "",
        "WorkingDir": "",
        "Env": None,
        "ConsoleSize": None,
    }
    assert v.exec_create({"Cmd": "ls"})["Cmd"] == ["ls"]


@pytest.mark.parametrize("body", [{}, None, {"Cmd": []}, {"Cmd": None}])
def test_exec_create_needs_a_command(body: object) -> None:
    with pytest.raises(InvalidArgument, match=r"^No exec command specified$"):
        v.exec_create(body)


def test_exec_create_errors() -> None:
    with pytest.raises(InvalidArgument, match=r"Go value of type types.ExecConfig"):
        v.exec_create([])
    with pytest.raises(InvalidArgument, match=r"ExecConfig.Tty of type bool"):
        v.exec_create({"Cmd": ["x"], "Tty": "1"})
    with pytest.raises(InvalidArgument, match=r"Invalid escape keys \(ctrl-\) provided"):
        v.exec_create({"Cmd": ["x"], "DetachKeys": "ctrl-"})
    with pytest.raises(InvalidArgument, match="needs to be an absolute path"):
        v.exec_create({"Cmd": ["x"], "WorkingDir": "tmp"})


# ---------------------------------------------------------------- image config merge


def test_merge_image_config() -> None:
    image = {
        "Env": ["PATH=/usr/bin", "A=image"],
        "Cmd": ["sh"],
        "Entrypoint": None,
        "WorkingDir": "/srv",
        "Labels": {"x": "1", "y": "image"},
        "User": "nobody",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5_000_000_000},
    }
    merged = v.merge_image_config(
        {"Env": ["A=own", "B=1"], "Cmd": None, "Labels": {"y": "own"}, "User": "",
         "Healthcheck": {"Retries": 2}},
    image)  # fmt: skip
    assert merged["Env"] == ["PATH=/usr/bin", "A=own", "B=1"]
    assert merged["Cmd"] == ["sh"]
    assert merged["WorkingDir"] == "/srv"
    assert merged["Labels"] == {"x": "1", "y": "own"}
    assert merged["User"] == "nobody"
    assert merged["Healthcheck"] == {
        "Test": ["CMD", "true"],
        "Interval": 5_000_000_000,
        "Retries": 2,
    }
    with_entry = v.merge_image_config({"Entrypoint": ["/x"], "Cmd": None}, image)
    assert with_entry["Cmd"] is None and with_entry["Entrypoint"] == ["/x"]


def test_host_cpus_is_positive() -> None:
    assert 1 <= v.host_cpus() <= (os.cpu_count() or 1)


# ---------------------------------------------------------------- HostConfig.Mounts


def test_parse_mounts() -> None:
    bind, tmpfs, vol = v.parse_mounts([
        {"Type": "bind", "Source": "/srv/", "Target": "/data", "ReadOnly": True,
         "BindOptions": {"Propagation": "rslave", "NonRecursive": True}},
        {"Type": "tmpfs", "Target": "/cache", "TmpfsOptions": {"SizeBytes": 1048576,
                                                                "Mode": 0o1777}},
        {"Type": "volume", "Source": "data", "Target": "/v"},
    ])  # fmt: skip
    assert bind == {
        "Type": "bind",
        "Source": "/srv",
        "Destination": "/data",
        "Mode": "",
        "RW": False,
        "Propagation": "rslave",
        "Recursive": False,
    }
    assert tmpfs == {
        "Type": "tmpfs",
        "Destination": "/cache",
        "Options": ["noexec", "nosuid", "nodev", "size=1048576", "mode=1777"],
    }
    assert vol == {"Type": "volume", "Name": "data", "Destination": "/v", "RW": True}


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"Type": "bind", "Source": "/a"}, 'type "bind": field Target must not be empty'),
        ({"Type": "bind", "Target": "/a"}, 'type "bind": field Source must not be empty'),
        ({"Type": "bind", "Source": "a", "Target": "/a"}, "invalid mount path: 'a'"),
        ({"Type": "bind", "Source": "/a", "Target": "a"}, "invalid mount path: 'a'"),
        ({"Type": "tmpfs", "Source": "/a", "Target": "/a"}, 'type "tmpfs": must not set Source'),
        ({"Type": "npipe", "Target": "/a"}, 'type "npipe": mount type unknown'),
        (
            {"Type": "bind", "Source": "/a", "Target": "/b", "BindOptions": {"Propagation": "x"}},
            "invalid propagation mode: x",
        ),
    ],
)
def test_parse_mounts_errors(mount: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        v.parse_mounts([mount])
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        create({"Mounts": [mount]})


def test_duplicate_mount_points() -> None:
    msg = "Duplicate mount point: /data"
    assert error({"Binds": ["/a:/data", "/b:/data/"]}) == msg
    assert error({"Binds": ["/a:/data"], "Tmpfs": {"/data": ""}}) == msg
    mounts = [{"Type": "bind", "Source": "/b", "Target": "/data"}]
    assert error({"Binds": ["/a:/data"], "Mounts": mounts}) == msg
