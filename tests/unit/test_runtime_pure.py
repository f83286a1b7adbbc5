import json
import os
from pathlib import Path

import pytest

from wharfie.errors import InvalidArgument
from wharfie.oci import capabilities, jsonio
from wharfie.runtime import cli, commands, mount_options, state


@pytest.mark.parametrize(
    "text",
    ['{"a": [1, 2.5, true, null, "x\\u00e9"], "b": {}}', " [] ", '"s"', "-1e3", '{"k":{"n":[[]]}}'],
)
def test_jsonio_loads_matches_json(text: str) -> None:
    assert jsonio.loads(text) == json.loads(text)


@pytest.mark.parametrize("text", ['{"a":1} x', "{bad", "", "[1,]"])
def test_jsonio_rejects_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(text)


def test_jsonio_dumps_matches_json() -> None:
    obj = {"a": [1, 2.5, None, True, 'é\n"q"'], "b": {"c": "d"}}
    assert jsonio.dumps(obj) == json.dumps(obj, separators=(",", ":"))


def test_jsonio_dumps_rejects_unknown_types() -> None:
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        jsonio.dumps({1, 2})


def test_mount_options_flags_and_data() -> None:
    o = mount_options.parse(["nosuid", "noexec", "ro", "mode=755", "size=64k", "rprivate"])
    m = mount_options
    assert o.flags == m.MS_NOSUID | m.MS_NOEXEC | m.MS_RDONLY
    assert o.data == "mode=755,size=64k"
    assert o.propagation == [m.MS_PRIVATE | m.MS_REC]
    assert not o.is_bind


def test_mount_options_clearing_and_bind() -> None:
    m = mount_options
    o = mount_options.parse(["ro", "rw", "rbind"])
    assert o.flags == m.MS_BIND | m.MS_REC
    assert o.data == ""
    assert o.is_bind
    assert mount_options.parse([], "bind").is_bind


def test_mount_options_recursive_tmpcopyup_and_refusals() -> None:
    m = mount_options
    o = m.parse(["rbind", "rro", "rnosuid", "rsuid"])
    assert (o.rec_set, o.rec_clear) == (m.MOUNT_ATTR_RDONLY, m.MOUNT_ATTR_NOSUID)
    o = m.parse(["tmpcopyup", "mode=700"], "tmpfs")
    assert o.tmpcopyup and o.data == "mode=700"
    for opts, mtype, msg in (
        (["rbind", "bogus"], "bind", "unknown mount option"),
        (["tmpcopyup"], "bind", "only for tmpfs"),
        (["idmap"], "tmpfs", "idmapped mounts .* are only for bind mounts"),
    ):
        with pytest.raises(m.MountOptionError, match=msg):
            m.parse(opts, mtype)


def test_capability_mask_and_unknown_names() -> None:
    unknown: list[str] = []
    bits = capabilities.mask(
        ["CAP_CHOWN", "kill", "CAP_NOPE", "CAP_CHECKPOINT_RESTORE"], 39, unknown
    )
    assert bits == (1 << 0) | (1 << 5)
    assert unknown == ["CAP_NOPE", "CAP_CHECKPOINT_RESTORE"]  # 40 is above this kernel's last cap


def test_cli_parse_globals_flags_and_positionals() -> None:
    a = cli.parse(["--root", "/r", "--log-format=json", "run", "-d", "--bundle", "/b", "c1"])
    assert a.glob == {"--root": "/r", "--log-format": "json"}
    assert a.command == "run"
    assert a.flags == {"--detach": True, "--bundle": "/b"}
    assert a.positional == ["c1"]


def test_cli_parse_exec_keeps_process_flags() -> None:
    a = cli.parse(["exec", "-e", "A=1", "-e", "B=2", "-t", "c1", "ls", "-la", "--", "x"])
    assert a.flags == {"--env": ["A=1", "B=2"], "--tty": True}
    assert a.positional == ["c1", "ls", "-la", "--", "x"]


def test_cli_parse_kill_with_trailing_all() -> None:
    a = cli.parse(["kill", "c1", "KILL", "--all"])
    assert a.positional == ["c1", "KILL"]
    assert a.flags == {"--all": True}


def test_cli_parse_errors() -> None:
    with pytest.raises(InvalidArgument, match="No help topic for 'frob'"):
        cli.parse(["frob"])
    with pytest.raises(InvalidArgument, match="flag provided but not defined: -nope"):
        cli.parse(["create", "--nope", "x"])
    with pytest.raises(InvalidArgument, match="flag needs an argument: -bundle"):
        cli.parse(["create", "--bundle"])


@pytest.mark.parametrize(
    ("text", "num"), [("KILL", 9), ("SIGTERM", 15), ("9", 9), ("hup", 1), ("RTMIN+2", 36)]
)
def test_parse_signal(text: str, num: int) -> None:
    assert commands.parse_signal(text) == num


@pytest.mark.parametrize("text", ["NOPE", "0", "999", "SIG_DFL"])
def test_parse_signal_rejects(text: str) -> None:
    with pytest.raises(InvalidArgument, match="unknown signal"):
        commands.parse_signal(text)


@pytest.mark.parametrize("cid", ["", ".", "..", "a/b", "a b", "x" * 1025])
def test_invalid_ids(cid: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid container ID format"):
        state.validate_id(cid)


def test_state_dir_claim_is_exclusive(tmp_path: Path) -> None:
    state.new_dir(str(tmp_path), "c1")
    with pytest.raises(Exception, match="container with given ID already exists: c1"):
        state.new_dir(str(tmp_path), "c1")


def test_proc_start_time_of_self_and_missing() -> None:
    assert state.proc_start_time(os.getpid())
    assert state.proc_start_time(2**22 + 12345) is None


def test_rfc3339_has_nanoseconds() -> None:
    stamp = state.rfc3339_now()
    assert stamp.endswith("Z") and len(stamp.split(".")[1]) == 10


def test_state_json_is_printed_as_json_dumps_indent_2_prints_it() -> None:
    dumps_indented = commands.dumps_indented
    for obj in (
        {"ociVersion": "1.0.2-dev", "id": "c", "pid": 0, "status": "stopped", "owner": ""},
        {"annotations": {"k": 'v é \n"q"', "e": {}}, "l": [1, 2.5, None, True, []], "x": []},
        {},
        [],
        [{"a": [{"b": {}}]}],
        "plain",
        3,
    ):
        assert dumps_indented(obj) == json.dumps(obj, indent=2)
        assert dumps_indented(obj, 4) == json.dumps(obj, indent=4)
