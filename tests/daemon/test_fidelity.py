"""Differences from dockerd that the differential harness (tests/differential) found, each
checked here through a real client (docker-py 7.1 or the docker CLI 28)."""

from __future__ import annotations

import json

import docker
import pytest
from docker.errors import APIError

from support.daemon import Daemon, docker_cli, sleeper

pytestmark = pytest.mark.root


@pytest.fixture
def api(daemon: Daemon) -> docker.APIClient:
    c = docker.APIClient(base_url=daemon.host, version="1.44", timeout=60)
    yield c
    c.close()


def _post_raw(api: docker.APIClient, path: str, data: bytes, **params: str) -> tuple[int, dict]:
    r = api._post(
        api._url(path), data=data, params=params, headers={"Content-Type": "application/json"}
    )
    return r.status_code, (r.json() if r.content else {})


def test_json_field_names_match_case_insensitively(api: docker.APIClient, name: str) -> None:
    body = {"image": "busybox", "cmd": ["true"], "HOSTCONFIG": {"memory": 64 << 20}}
    r = api._post_json(api._url("/containers/create"), data=body, params={"name": name})
    try:
        assert r.status_code == 201, r.text
        info = api.inspect_container(name)
        assert info["Config"]["Cmd"] == ["true"]
        assert info["HostConfig"]["Memory"] == 64 << 20
    finally:
        api.remove_container(name, force=True)


def test_repeated_query_parameter_first_wins(api: docker.APIClient, name: str) -> None:
    r = api._post_json(
        api._url(f"/containers/create?name={name}&name={name}x"), data={"Image": "busybox"}
    )
    try:
        assert r.status_code == 201, r.text
        assert api.inspect_container(name)["Name"] == f"/{name}"
    finally:
        api.remove_container(name, force=True)


@pytest.mark.parametrize(
    ("raw", "wording"),
    [
        (
            b'{"Image":"busybox","HostConfig":{"Memory":"lots"}}',
            "invalid JSON: json: cannot unmarshal string into Go struct field "
            "HostConfig.HostConfig.Memory of type int64",
        ),
        (
            b'{"Image":"busybox","HostConfig":{"Memory":1e400}}',
            "invalid JSON: json: cannot unmarshal number 1e400 into Go struct field "
            "HostConfig.HostConfig.Memory of type int64",
        ),
        (
            b'{"Image":"busybox","HostConfig":{"Memory":NaN}}',
            "invalid JSON: invalid character 'N' looking for beginning of value",
        ),
        (
            b'{"Image":"busybox","Cmd":5}',
            "invalid JSON: json: cannot unmarshal number into Go struct field "
            "ContainerConfigWrapper.Cmd of type string",
        ),
        (
            b'{"Image":"busybox","Labels":' + b'{"a":' * 1000 + b"1" + b"}" * 1001,
            "invalid JSON: json: cannot unmarshal object into Go struct field "
            "ContainerConfigWrapper.Labels of type string",
        ),
        (
            b"{not json",
            "invalid JSON: invalid character 'n' looking for beginning of object key string",
        ),
        (b'{"Image":"busybox"} trailing', "unexpected content after JSON"),
        (b"", "invalid JSON: got EOF while reading request body"),
    ],
)
def test_bad_json_is_400_in_gos_words(api: docker.APIClient, raw: bytes, wording: str) -> None:
    status, body = _post_raw(api, "/containers/create", raw)
    assert (status, body.get("message")) == (400, wording)


def test_wrong_type_through_docker_py(api: docker.APIClient, name: str) -> None:
    with pytest.raises(APIError) as err:
        api.create_container("busybox", name=name, host_config={"CpuShares": "x"})
    assert err.value.status_code == 400
    assert "HostConfig.HostConfig.CpuShares of type int64" in str(err.value)


def test_kill_returns_once_the_container_is_down(daemon: Daemon, name: str) -> None:
    sleeper(daemon, name)
    assert docker_cli(daemon, "kill", name).returncode == 0
    state = json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]
    assert (state["Status"], state["Running"], state["ExitCode"]) == ("exited", False, 137)
    rm = docker_cli(daemon, "rm", name)  # no -f: it is already down
    assert rm.returncode == 0, rm.stderr


def test_kill_with_a_signal_linux_lacks(daemon: Daemon, name: str) -> None:
    sleeper(daemon, name)
    try:
        r = docker_cli(daemon, "kill", "-s", "999", name)
        assert r.returncode != 0
        assert "the linux daemon does not support signal 999" in r.stderr.decode()
        assert json.loads(docker_cli(daemon, "inspect", name).stdout)[0]["State"]["Running"]
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_bad_numbers_in_the_query_are_400(api: docker.APIClient, name: str) -> None:
    api.create_container("busybox", ["sh", "-c", "echo a; echo b"], name=name)
    try:
        r = api._post(api._url("/containers/{0}/stop", name), params={"t": "abc"})
        assert r.status_code == 400
        assert r.json()["message"] == 'strconv.Atoi: parsing "abc": invalid syntax'
        api.start(name)
        api.wait(name)
        r = api._get(api._url("/containers/{0}/logs", name), params={"stdout": 1, "tail": "abc"})
        assert r.status_code == 200  # as dockerd: a tail that is not a number means "all"
        assert api.logs(name, tail=1) == b"b\n"
    finally:
        api.remove_container(name, force=True)


def test_exec_errors_arrive_in_the_stream(api: docker.APIClient, daemon: Daemon, name: str) -> None:
    sleeper(daemon, name)
    try:
        eid = api.exec_create(name, ["nosuchcmd"])["Id"]
        out = api.exec_start(eid)
        assert b"OCI runtime exec failed" in out and b"nosuchcmd" in out
        assert api.exec_inspect(eid)["ExitCode"] == 127
        r = docker_cli(daemon, "exec", name, "/etc/passwd")
        assert r.returncode == 126
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_exec_stream_framing_follows_the_start_request(
    api: docker.APIClient, daemon: Daemon, name: str
) -> None:
    """docker-py demultiplexes when exec_start says tty=False: dockerd frames the stream by the
    start request, even for a process that has a terminal (and sends raw bytes the other way)."""
    sleeper(daemon, name)
    try:
        eid = api.exec_create(name, ["sh", "-c", "echo o"], tty=True)["Id"]
        assert api.exec_start(eid, tty=False) == b"o\r\n"  # the pty's CRLF, in frames
        eid = api.exec_create(name, ["sh", "-c", "echo o; echo e >&2"])["Id"]
        out = api.exec_start(eid, tty=True)  # raw, no frame headers, and stdout only
        assert out == b"o\n", out
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_detach_keys_apply_only_with_a_terminal(daemon: Daemon) -> None:
    """moby copies a non-TTY stdin as it is: ctrl-p ctrl-q bytes in binary input reach the
    process instead of detaching the client."""
    data = b"a\x10\x11b"
    p = docker_cli(daemon, "run", "-i", "--rm", "busybox", "od", "-An", "-tx1", input=data)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [b"61", b"10", b"11", b"62"], p.stdout


def test_swarm_routes_answer_as_a_node_outside_a_swarm(daemon: Daemon) -> None:
    client = docker.DockerClient(base_url=daemon.host, version="1.44")
    with pytest.raises(APIError) as err:
        client.nodes.list()
    assert err.value.status_code == 503
    assert "This node is not a swarm manager" in str(err.value)
    r = docker_cli(daemon, "service", "ls")
    assert r.returncode != 0 and b"This node is not a swarm manager" in r.stderr
    assert client.plugins.list() == []


@pytest.mark.parametrize(
    ("host_config", "wording"),
    [
        ({"CgroupnsMode": "bogus"}, "invalid cgroup namespace mode: bogus"),
        ({"IpcMode": "bogus"}, "invalid IPC mode: bogus"),
        ({"UTSMode": "bogus"}, "invalid UTS mode: bogus"),
        ({"CpusetCpus": "abc"}, "Invalid value abc for cpuset cpus: invalid format: abc"),
        ({"CpusetMems": "3-1"}, "Invalid value 3-1 for cpuset mems: invalid format: 3-1"),
        ({"PortBindings": {"80/tcp": [{"HostPort": "x"}]}}, 'invalid port specification: "x"'),
    ],
)
def test_bad_host_config_is_400(api: docker.APIClient, host_config: dict, wording: str) -> None:
    with pytest.raises(APIError) as err:
        api.create_container("busybox", host_config=host_config)
    assert err.value.status_code == 400
    assert err.value.explanation == wording


def test_names_ending_in_a_newline(api: docker.APIClient, daemon: Daemon) -> None:
    with pytest.raises(APIError) as err:
        api.create_container("busybox", name="abc\n")
    assert err.value.status_code == 400
    assert "Invalid container name (abc\n)" in err.value.explanation
    r = docker_cli(daemon, "volume", "create", "v\n")
    assert r.returncode != 0 and b"includes invalid characters" in r.stderr
    r = docker_cli(daemon, "volume", "create", "a")
    assert r.returncode != 0 and b"volume name is too short" in r.stderr


def test_events_since_after_until(api: docker.APIClient) -> None:
    r = api._get(api._url("/events"), params={"since": "20", "until": "10"})
    assert r.status_code == 400
    assert r.json()["message"] == "`since` time (20) cannot be after `until` time (10)"


def test_network_create_wrong_type_is_400(daemon: Daemon, api: docker.APIClient) -> None:
    r = api._post_json(api._url("/networks/create"), data={"Name": "nw1", "Labels": ["x"]})
    assert r.status_code == 400
    assert r.json()["message"] == (
        "invalid JSON: json: cannot unmarshal array into Go struct field "
        "NetworkCreateRequest.Labels of type map[string]string"
    )


def test_prune_honours_its_filters(daemon: Daemon, name: str) -> None:
    for suffix, label in (("keep", "keep=yes"), ("other", "keep=no")):
        r = docker_cli(daemon, "create", "--name", f"{name}{suffix}", "--label", label, "busybox")
        assert r.returncode == 0, r.stderr
    try:

        def left() -> set[str]:
            out = docker_cli(daemon, "ps", "-a", "--format", "{{.Names}}").stdout.decode()
            return {n for n in out.split() if n.startswith(name)}

        r = docker_cli(daemon, "container", "prune", "-f", "--filter", "until=24h")
        assert r.returncode == 0, r.stderr
        assert left() == {f"{name}keep", f"{name}other"}  # both are seconds old
        r = docker_cli(daemon, "container", "prune", "-f", "--filter", "label!=keep=yes")
        assert r.returncode == 0, r.stderr
        assert left() == {f"{name}keep"}
        r = docker_cli(daemon, "container", "prune", "-f", "--filter", "lable=keep=yes")
        assert r.returncode != 0 and b"invalid filter 'lable'" in r.stderr
        assert left() == {f"{name}keep"}
        r = docker_cli(daemon, "network", "prune", "-f", "--filter", "until=")
        assert r.returncode != 0 and b"failed to parse value as time or duration" in r.stderr
    finally:
        docker_cli(daemon, "rm", "-f", f"{name}keep", f"{name}other")


def test_volume_prune_label_negation(api: docker.APIClient, name: str) -> None:
    api.create_volume(f"{name}a", labels={"keep": "yes"})
    api.create_volume(f"{name}b", labels={"keep": "no"})
    try:
        out = api.prune_volumes(filters={"label!": "keep=yes", "all": "true"})
        assert f"{name}b" in (out["VolumesDeleted"] or [])
        assert f"{name}a" not in (out["VolumesDeleted"] or [])
        with pytest.raises(APIError) as err:
            api.prune_volumes(filters={"bogus": "x"})
        assert err.value.status_code == 400
    finally:
        for v in (f"{name}a", f"{name}b"):
            try:
                api.remove_volume(v)
            except APIError:
                pass


def test_exec_is_not_running_once_its_stream_ended(
    api: docker.APIClient, daemon: Daemon, name: str
) -> None:
    sleeper(daemon, name)
    try:
        for tty in (False, True):
            for _ in range(5):
                eid = api.exec_create(name, ["sh", "-c", "echo hi"], tty=tty)["Id"]
                assert b"hi" in api.exec_start(eid, tty=tty)
                info = api.exec_inspect(eid)
                assert (info["Running"], info["ExitCode"]) == (False, 0), (tty, info)
    finally:
        docker_cli(daemon, "rm", "-f", name)


def test_commit_takes_the_containers_whole_config(daemon: Daemon, name: str) -> None:
    """`docker commit` sends no Config: the image gets the container's (as dockerd 20.10
    and 25: Hostname, Attach*, Image as named), with --change applied on top."""
    p = docker_cli(daemon, "create", "--name", name, "-e", "X=1", "-w", "/tmp", "busybox", "true")
    assert p.returncode == 0, p.stderr
    try:
        p = docker_cli(daemon, "commit", "-c", "ENV Y=2", name, f"{name}-img:1")
        assert p.returncode == 0, p.stderr
        api = docker.APIClient(base_url=daemon.host, version="1.41", timeout=60)
        cfg = api.inspect_image(f"{name}-img:1")["Config"]
        cid = api.inspect_container(name)["Id"]
        assert cfg["Hostname"] == cid[:12] and cfg["Image"] == "busybox"
        assert cfg["AttachStdout"] is True and cfg["WorkingDir"] == "/tmp"
        assert cfg["Env"] == ["X=1", "Y=2"] and cfg["Cmd"] == ["true"]
    finally:
        docker_cli(daemon, "rm", "-f", name)
        docker_cli(daemon, "rmi", f"{name}-img:1")


def test_wrong_type_inside_a_list_of_structs(api: docker.APIClient, name: str) -> None:
    """A wrong type inside HostConfig.Mounts' elements is Go's 400, not taken as it is."""
    body = {"Image": "busybox", "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": 7}]}}
    status, doc = _post_raw(api, "/containers/create", json.dumps(body).encode(), name=name)
    assert status == 400, doc
    assert doc["message"] == (
        "invalid JSON: json: cannot unmarshal number into Go struct field "
        "Mount.HostConfig.Mounts.Target of type string"
    )


def test_engine_25_wordings_through_clients(api: docker.APIClient, daemon: Daemon) -> None:
    """Checked in moby's source: filter values print as a Go []string, CapAdd keeps its
    prefix, a relative Tmpfs path has no mount-config prefix."""
    with pytest.raises(APIError) as exc:
        api.images(filters={"dangling": "maybe"})
    assert exc.value.response.status_code == 400
    assert exc.value.explanation == "invalid filter 'dangling=[maybe]'"
    p = docker_cli(daemon, "create", "--cap-add", "BOGUS", "busybox")
    assert b'invalid CapAdd: unknown capability: "CAP_BOGUS"' in p.stderr, p.stderr
    p = docker_cli(daemon, "create", "--tmpfs", "rel", "busybox")
    assert b"invalid mount path: 'rel' mount path must be absolute" in p.stderr, p.stderr
    assert b"invalid mount config" not in p.stderr
