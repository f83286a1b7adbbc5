"""engine.spec: Entrypoint/Cmd, env, and the OCI runtime spec Docker would give runc."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wharfie.engine import spec as s
from wharfie.engine import validate as v
from wharfie.errors import InvalidArgument
from wharfie.oci import runtime_spec
from wharfie.oci.capabilities import NAMES
from wharfie.oci.seccomp_default import DOCKER_DEFAULT_CAPABILITIES, default_profile

IMAGE = {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"], "WorkingDir": ""}


# ---------------------------------------------------------------- Entrypoint / Cmd


@pytest.mark.parametrize(
    ("config", "image", "expected"),
    [
        # Docker's documented table (Dockerfile ENTRYPOINT/CMD x docker run)
        ({}, {"Cmd": ["sh"]}, ["sh"]),
        ({"Cmd": ["echo", "hi"]}, {"Cmd": ["sh"]}, ["echo", "hi"]),
        ({}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/ep", "a"]),
        ({"Cmd": ["b"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/ep", "b"]),
        ({"Entrypoint": ["/x"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/x"]),
        ({"Entrypoint": ["/x"], "Cmd": ["c"]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["/x", "c"]),
        ({"Entrypoint": []}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["a"]),
        ({"Entrypoint": [""]}, {"Entrypoint": ["/ep"], "Cmd": ["a"]}, ["a"]),
        ({"Entrypoint": "", "Cmd": ["ls"]}, {"Entrypoint": ["/ep"]}, ["ls"]),
        ({"Entrypoint": None, "Cmd": None}, {"Entrypoint": ["/ep"]}, ["/ep"]),
        ({"Cmd": "ls -l"}, {}, ["ls -l"]),
        ({"Entrypoint": "/bin/sh"}, {"Cmd": ["x"]}, ["/bin/sh"]),
        ({"Cmd": []}, {"Cmd": ["sh"]}, ["sh"]),
    ],
)
def test_command(config: dict[str, Any], image: dict[str, Any], expected: list[str]) -> None:
    assert s.command(config, image) == expected


@pytest.mark.parametrize(
    ("config", "image"),
    [({}, {}), ({"Entrypoint": []}, {"Entrypoint": ["/ep"]}), ({"Cmd": None}, {"Cmd": None})],
)
def test_no_command(config: dict[str, Any], image: dict[str, Any]) -> None:
    with pytest.raises(InvalidArgument, match=r"^No command specified$"):
        s.command(config, image)


# ---------------------------------------------------------------- environment


def test_environment_defaults() -> None:
    assert s.environment({}, {}, "abc", "/root", False) == [
        f"PATH={s.DEFAULT_PATH}",
        "HOSTNAME=abc",
        "HOME=/root",
    ]
    assert s.environment({}, {}, "abc", "/", True) == [
        f"PATH={s.DEFAULT_PATH}",
        "HOSTNAME=abc",
        "TERM=xterm",
        "HOME=/",
    ]


def test_environment_overrides() -> None:
    image = {"Env": ["PATH=/bin", "A=1", "B=2"]}
    config = {"Env": ["B=3", "C=4", "HOME=/h", "TERM=dumb", "HOSTNAME=mine"]}
    assert s.environment(config, image, "abc", "/root", True) == [
        "PATH=/bin",
        "HOSTNAME=mine",
        "TERM=dumb",
        "A=1",
        "B=3",
        "C=4",
        "HOME=/h",
    ]


def test_environment_key_without_value_removes() -> None:
    env = s.environment({"Env": ["A"]}, {"Env": ["A=1", "B=2"]}, "h", "/", False)
    assert "A=1" not in env and "B=2" in env


def test_environment_already_merged_is_idempotent() -> None:
    image = {"Env": ["PATH=/bin", "A=1"]}
    merged = v.merge_image_config({"Env": ["A=2"]}, image)
    assert s.environment(merged, image, "h", "/", False) == [
        "PATH=/bin",
        "HOSTNAME=h",
        "A=2",
        "HOME=/",
    ]


# ---------------------------------------------------------------- capabilities


def test_capabilities_default() -> None:
    assert s.capabilities({}) == list(DOCKER_DEFAULT_CAPABILITIES)


def test_capabilities_add_drop() -> None:
    caps = s.capabilities({"CapAdd": ["NET_ADMIN", "cap_sys_ptrace"], "CapDrop": ["MKNOD"]})
    assert "CAP_NET_ADMIN" in caps and "CAP_SYS_PTRACE" in caps and "CAP_MKNOD" not in caps
    assert len(caps) == len(DOCKER_DEFAULT_CAPABILITIES) + 1


def test_capabilities_drop_all_add_some() -> None:
    assert s.capabilities({"CapDrop": ["ALL"], "CapAdd": ["CHOWN"]}) == ["CAP_CHOWN"]
    assert s.capabilities({"CapDrop": ["all"]}) == []


def test_capabilities_add_all_drop_some() -> None:
    caps = s.capabilities({"CapAdd": ["ALL"], "CapDrop": ["SYS_ADMIN"]})
    assert set(caps) == set(s.all_capabilities()) - {"CAP_SYS_ADMIN"}


def test_capabilities_privileged() -> None:
    assert s.capabilities({"Privileged": True, "CapDrop": ["ALL"]}) == s.all_capabilities()


def test_all_capabilities_is_limited_by_our_bounding_set(tmp_path: Any) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapBnd:\t000001fffeffffff\n")
    caps = s.all_capabilities(str(status))
    assert "CAP_SYS_RESOURCE" not in caps and len(caps) == len(NAMES) - 1
    status.write_text("CapBnd:\t0000000000000001\n")
    assert s.all_capabilities(str(status)) == ["CAP_CHOWN"]
    assert set(s.all_capabilities()) <= set(NAMES)


def test_capabilities_unknown() -> None:
    with pytest.raises(InvalidArgument, match='unknown capability: "CAP_NOPE"'):
        s.capabilities({"CapAdd": ["NOPE"]})


# ---------------------------------------------------------------- runtime spec


def inputs(host: dict[str, Any] | None = None, **kw: Any) -> s.SpecInputs:
    config: dict[str, Any] = {"Image": "busybox", **kw.pop("config", {})}
    created = v.container_create({**config, "HostConfig": host or {}})
    fields: dict[str, Any] = {
        "container_id": "c" * 64,
        "config": created.config,
        "host_config": created.host_config,
        "image_config": IMAGE,
        "rootfs": "/run/wharfie/c/rootfs",
        "hostname": "cccccccccccc",
        "user": (0, 0, [10]),
        "home": "/root",
        "etc_files": {
            "/etc/hostname": "/data/c/hostname",
            "/etc/hosts": "/data/c/hosts",
            "/etc/resolv.conf": "/data/c/resolv.conf",
        },
        "network": "bridge",
        "netns_path": "/run/wharfie/netns/c",
        "cgroups_path": "/wharfie/" + "c" * 64,
        "init_path": None,
    }
    fields.update(kw)
    return s.SpecInputs(**fields)


def build(host: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    spec = s.runtime_spec(inputs(host, **kw))
    runtime_spec.validate(spec)
    json.dumps(spec)  # serialisable
    return spec


def mount(spec: dict[str, Any], destination: str) -> dict[str, Any]:
    (found,) = [m for m in spec["mounts"] if m["destination"] == destination]
    return found


def test_default_spec() -> None:
    spec = build()
    p = spec["process"]
    assert p["args"] == ["sh"]
    assert p["terminal"] is False
    assert p["cwd"] == "/"
    assert p["user"] == {"uid": 0, "gid": 0, "additionalGids": [10]}
    assert p["env"] == ["PATH=/usr/bin:/bin", "HOSTNAME=cccccccccccc", "HOME=/root"]
    assert p["noNewPrivileges"] is False
    assert p["oomScoreAdj"] == 0
    assert "rlimits" not in p
    assert set(p["capabilities"]) == {"bounding", "effective", "permitted"}
    assert p["capabilities"]["bounding"] == list(DOCKER_DEFAULT_CAPABILITIES)
    assert spec["root"] == {"path": "/run/wharfie/c/rootfs", "readonly": False}
    assert spec["hostname"] == "cccccccccccc"
    dests = [m["destination"] for m in spec["mounts"]]
    assert dests[:7] == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm",
    ]  # fmt: skip
    assert dests[7:] == ["/etc/hostname", "/etc/hosts", "/etc/resolv.conf"]
    assert mount(spec, "/etc/hosts") == {
        "destination": "/etc/hosts",
        "type": "bind",
        "source": "/data/c/hosts",
        "options": ["rbind", "rprivate"],
    }
    assert "size=67108864" in mount(spec, "/dev/shm")["options"]
    assert "ro" in mount(spec, "/sys")["options"]
    assert "ro" in mount(spec, "/sys/fs/cgroup")["options"]
    assert mount(spec, "/dev/pts")["options"] == [
        "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
    ]  # fmt: skip
    linux = spec["linux"]
    assert linux["cgroupsPath"] == "/wharfie/" + "c" * 64
    assert linux["maskedPaths"] == s.MASKED_PATHS
    assert linux["readonlyPaths"] == s.READONLY_PATHS
    assert linux["seccomp"] == default_profile(list(DOCKER_DEFAULT_CAPABILITIES))
    types = [n["type"] for n in linux["namespaces"]]
    assert types[:5] == ["mount", "network", "uts", "pid", "ipc"]
    assert {"type": "network", "path": "/run/wharfie/netns/c"} in linux["namespaces"]
    devices = linux["resources"]["devices"]
    assert devices[0] == {"allow": False, "access": "rwm"}
    assert {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"} in devices
    assert set(linux["resources"]) == {"devices"}


def test_cgroup_namespace_follows_cgroupns_mode() -> None:
    private = build({"CgroupnsMode": "private"})["linux"]["namespaces"]
    assert {"type": "cgroup"} in private
    host = build({"CgroupnsMode": "host"})["linux"]["namespaces"]
    assert {"type": "cgroup"} not in host


def test_network_modes() -> None:
    none = build(network="none", netns_path=None)["linux"]["namespaces"]
    assert {"type": "network"} in none
    host = build(network="host", netns_path=None)["linux"]["namespaces"]
    assert all(n["type"] != "network" for n in host)
    with pytest.raises(InvalidArgument):
        build(network="bridge", netns_path=None)


def test_privileged_spec() -> None:
    spec = build({"Privileged": True})
    assert spec["process"]["capabilities"]["bounding"] == s.all_capabilities()
    assert "seccomp" not in spec["linux"]
    assert "maskedPaths" not in spec["linux"] and "readonlyPaths" not in spec["linux"]
    assert "ro" not in mount(spec, "/sys")["options"]
    assert "ro" not in mount(spec, "/sys/fs/cgroup")["options"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


def test_read_only_rootfs() -> None:
    spec = build({"ReadonlyRootfs": True})
    assert spec["root"]["readonly"] is True
    assert "ro" not in mount(spec, "/etc/hosts")["options"]  # docker keeps them writable


def test_binds() -> None:
    spec = build({"Binds": ["/srv/data:/data:ro", "/srv/x:/x:rshared", "/srv/y:/y"]})
    assert mount(spec, "/data") == {
        "destination": "/data",
        "type": "bind",
        "source": "/srv/data",
        "options": ["rbind", "ro", "rprivate"],
    }
    assert mount(spec, "/x")["options"] == ["rbind", "rshared"]
    assert mount(spec, "/y")["options"] == ["rbind", "rprivate"]


def test_named_volume_binds_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="named volumes are not supported yet"):
        build({"Binds": ["vol:/data"]})


def test_bind_over_a_default_mount_replaces_it() -> None:
    spec = build({"Binds": ["/srv/hosts:/etc/hosts:ro", "/srv/shm:/dev/shm"]})
    assert mount(spec, "/etc/hosts")["source"] == "/srv/hosts"
    assert mount(spec, "/dev/shm")["type"] == "bind"


def test_tmpfs() -> None:
    spec = build({"Tmpfs": {"/run": "size=1m", "/tmp": ""}})
    assert mount(spec, "/run") == {
        "destination": "/run",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["noexec", "nosuid", "nodev", "size=1m"],
    }
    assert mount(spec, "/tmp")["options"] == ["noexec", "nosuid", "nodev"]


def test_init() -> None:
    spec = build({"Init": True}, init_path="/usr/libexec/wharfie/tini-static")
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sh"]
    assert mount(spec, "/sbin/docker-init") == {
        "destination": "/sbin/docker-init",
        "type": "bind",
        "source": "/usr/libexec/wharfie/tini-static",
        "options": ["bind", "ro"],
    }


def test_ulimits() -> None:
    spec = build({"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 4096},
                              {"Name": "nproc", "Soft": 10, "Hard": 10}]})  # fmt: skip
    assert spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
        {"type": "RLIMIT_NPROC", "hard": 10, "soft": 10},
    ]


def test_resources() -> None:
    spec = build({
        "Memory": 64 << 20, "MemoryReservation": 32 << 20, "NanoCpus": 1_500_000_000,
        "CpuShares": 512, "CpusetCpus": "0", "PidsLimit": 100, "BlkioWeight": 300,
        "MemorySwappiness": 10, "OomKillDisable": True,
    })  # fmt: skip
    res = spec["linux"]["resources"]
    assert res["memory"] == {
        "limit": 64 << 20,
        "reservation": 32 << 20,
        "swap": 128 << 20,
        "swappiness": 10,
        "disableOOMKiller": True,
    }
    assert res["cpu"] == {"shares": 512, "period": 100000, "quota": 150000, "cpus": "0"}
    assert res["pids"] == {"limit": 100}
    assert res["blockIO"] == {"weight": 300}


@pytest.mark.parametrize(("limit", "expected"), [(0, None), (-1, None), (100, 100)])
def test_pids_limit(limit: int, expected: int | None) -> None:
    """No limit at create is no `pids` at all (crun would write -1 into v1's pids.max)."""
    pids = build({"PidsLimit": limit})["linux"]["resources"].get("pids")
    assert pids == (None if expected is None else {"limit": expected})


@pytest.mark.parametrize(("limit", "expected"), [(0, -1), (-1, -1), (100, 100)])
def test_pids_limit_on_update_unsets_with_minus_one(limit: int, expected: int) -> None:
    assert s.resources({"PidsLimit": limit}, update=True)["pids"] == {"limit": expected}


def test_memory_swap_explicit() -> None:
    res = build({"Memory": 64 << 20, "MemorySwap": -1})["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": -1}
    res = s.resources({"Memory": 64 << 20})  # not through validate: still docker's default
    assert res["memory"]["swap"] == 128 << 20


def test_cpu_period_and_quota() -> None:
    res = build({"CpuPeriod": 50000, "CpuQuota": 25000})["linux"]["resources"]
    assert res["cpu"] == {"period": 50000, "quota": 25000}


def test_seccomp_unconfined_and_no_new_privileges() -> None:
    spec = build({"SecurityOpt": ["seccomp=unconfined", "no-new-privileges"]})
    assert "seccomp" not in spec["linux"]
    assert spec["process"]["noNewPrivileges"] is True
    spec = build({"SecurityOpt": ["no-new-privileges:false", "apparmor=x", "label=disable"]})
    assert spec["process"]["noNewPrivileges"] is False
    assert "seccomp" in spec["linux"]


def test_seccomp_follows_capabilities() -> None:
    spec = build({"CapAdd": ["SYS_ADMIN"]})
    caps = spec["process"]["capabilities"]["bounding"]
    assert spec["linux"]["seccomp"] == default_profile(caps)
    names = {n for rule in spec["linux"]["seccomp"]["syscalls"] for n in rule["names"]}
    assert "mount" in names
    default_names = {n for r in build()["linux"]["seccomp"]["syscalls"] for n in r["names"]}
    assert "mount" not in default_names


def test_seccomp_docker_profile() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
        ],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
            {"name": "mount", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
            {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_KILL"]}},
            {"names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
        ],
    }  # fmt: skip
    spec = build({"SecurityOpt": ["seccomp=" + json.dumps(profile)]})
    sec = spec["linux"]["seccomp"]
    assert sec["defaultAction"] == "SCMP_ACT_ERRNO" and sec["defaultErrnoRet"] == 1
    assert sec["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert sec["syscalls"] == [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
    ]  # fmt: skip
    with_admin = build({"CapAdd": ["SYS_ADMIN"], "SecurityOpt": ["seccomp=" + json.dumps(profile)]})
    assert {"names": ["mount"], "action": "SCMP_ACT_ALLOW"} in with_admin["linux"]["seccomp"][
        "syscalls"
    ]


@pytest.mark.parametrize("text", ["{not json", "[]", '{"syscalls": []}'])
def test_seccomp_bad_profile(text: str) -> None:
    with pytest.raises(InvalidArgument, match="Decoding seccomp profile failed"):
        build({"SecurityOpt": ["seccomp=" + text]})


def test_process_fields_from_config() -> None:
    spec = build(
        {"OomScoreAdj": 500, "GroupAdd": ["20", "audio"], "ConsoleSize": [40, 120]},
        config={"Tty": True, "WorkingDir": "/srv", "Env": ["A=1"], "Cmd": ["top"],
                "Domainname": "example.org"},
        user=(1000, 1000, []),
        home="/home/u",
    )  # fmt: skip
    p = spec["process"]
    assert p["terminal"] is True
    assert p["consoleSize"] == {"height": 40, "width": 120}
    assert p["cwd"] == "/srv"
    assert p["args"] == ["top"]
    assert p["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [20]}
    assert p["env"][-3:] == ["TERM=xterm", "A=1", "HOME=/home/u"]
    assert p["oomScoreAdj"] == 500
    assert spec["domainname"] == "example.org"


def test_image_working_dir_and_sysctls() -> None:
    image = {**IMAGE, "WorkingDir": "/app"}
    spec = build({"Sysctls": {"net.ipv4.ip_forward": "1"}}, image_config=image)
    assert spec["process"]["cwd"] == "/app"
    assert spec["linux"]["sysctl"] == {"net.ipv4.ip_forward": "1"}


def test_systempaths_unconfined() -> None:
    spec = build({"SecurityOpt": ["systempaths=unconfined"]})
    assert spec["linux"]["maskedPaths"] == [] and spec["linux"]["readonlyPaths"] == []


def test_spec_is_fresh_every_time() -> None:
    inp = inputs()
    a = s.runtime_spec(inp)
    a["mounts"][0]["options"].append("x")
    a["linux"]["resources"]["devices"][0]["allow"] = True
    b = s.runtime_spec(inp)
    assert "x" not in b["mounts"][0]["options"]
    assert b["linux"]["resources"]["devices"][0]["allow"] is False


# ---------------------------------------------------------------- devices


def test_privileged_lists_host_devices() -> None:
    spec = build({"Privileged": True})
    paths = {d["path"] for d in spec["linux"]["devices"]}
    assert "/dev/null" in paths
    assert not any(p.startswith("/dev/pts/") for p in paths)
    assert build({"Privileged": True}, devices=[])["linux"]["devices"] == []


def test_host_devices_of_an_empty_dir(tmp_path: Any) -> None:
    (tmp_path / "file").write_text("")
    assert s.host_devices(str(tmp_path)) == []


def test_device_mapping() -> None:
    spec = build({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
                               "CgroupPermissions": "rw"}]})  # fmt: skip
    (dev,) = spec["linux"]["devices"]
    assert (dev["type"], dev["path"], dev["major"], dev["minor"]) == ("c", "/dev/mynull", 1, 3)
    assert spec["linux"]["resources"]["devices"][-1] == {
        "allow": True,
        "type": "c",
        "major": 1,
        "minor": 3,
        "access": "rw",
    }
    assert "devices" not in build()["linux"]


def test_device_mapping_of_a_directory() -> None:
    devices, rules = s.device_mappings([{"PathOnHost": "/dev", "PathInContainer": "/hostdev"}])
    assert any(d["path"] == "/hostdev/null" for d in devices)
    assert len(devices) == len(rules)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"PathOnHost": "/nonexistent/dev"}, "error gathering device information"),
        ({"PathOnHost": "/etc/hostname"}, "error gathering device information"),
        ({"PathOnHost": "dev/null"}, "is not an absolute path"),
        ({"PathOnHost": "/dev/null", "CgroupPermissions": "rx"}, "invalid device cgroup perm"),
    ],
)
def test_device_mapping_errors(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        s.device_mappings([mapping])


def test_host_config_mounts() -> None:
    spec = build({"Mounts": [
        {"Type": "bind", "Source": "/srv/a", "Target": "/a", "ReadOnly": True},
        {"Type": "bind", "Source": "/srv/b", "Target": "/b",
         "BindOptions": {"NonRecursive": True, "Propagation": "rshared"}},
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4096}},
    ]})  # fmt: skip
    assert mount(spec, "/a")["options"] == ["rbind", "ro", "rprivate"]
    assert mount(spec, "/b")["options"] == ["bind", "rshared"]
    assert mount(spec, "/t") == {
        "destination": "/t",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["noexec", "nosuid", "nodev", "size=4096"],
    }
    with pytest.raises(InvalidArgument, match="named volumes are not supported yet"):
        build({"Mounts": [{"Type": "volume", "Source": "v", "Target": "/v"}]})
