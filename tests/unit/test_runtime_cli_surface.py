"""wharfie-runtime's runc 1.1 command line: parsing, help coverage, update/events parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from wharfie.errors import FailedPrecondition, InvalidArgument
from wharfie.runtime import admin, cli, cli_help, execproc


def test_every_flag_has_help_and_every_help_line_a_flag() -> None:
    for cmd, table in cli.COMMAND_FLAGS.items():
        assert cmd in cli_help.COMMANDS
        for name, kind in table.items():
            if not isinstance(kind, str):
                assert name in cli_help.FLAG_HELP, (cmd, name)
        text = cli_help.command_help(cmd)
        for name in table:
            assert name in text, (cmd, name)
    for name, kind in cli.GLOBAL_FLAGS.items():
        if not isinstance(kind, str):
            assert name in cli_help.GLOBAL_HELP
    assert set(cli.ARG_COUNTS) == set(cli.COMMAND_FLAGS)


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["bogus"], 3, "No help topic for 'bogus'"),
        (["list", "--bogus"], 1, "flag provided but not defined: -bogus"),
        (["state"], 1, '"state" requires exactly 1 argument(s)'),
        (["kill", "a", "b", "c"], 1, '"kill" requires a maximum of 2 argument(s)'),
        (["exec"], 1, '"exec" requires a minimum of 1 argument(s)'),
        (["--root"], 1, "flag needs an argument: -root"),
    ],
)
def test_usage_errors(argv: list[str], code: int, message: str) -> None:
    with pytest.raises(cli.UsageError) as info:
        cli.parse(argv)
    assert info.value.code == code
    assert str(info.value) == message


def test_parse_go_style_flags_and_help() -> None:
    args = cli.parse(["-root", "/r", "run", "-b=/b", "--keep", "c1"])
    assert args.glob["--root"] == "/r"
    assert args.flags == {"--bundle": "/b", "--keep": True}
    assert args.positional == ["c1"]
    assert cli.parse(["state", "--help"]).flags["--help"] is True
    assert cli.parse(["h", "state"]).command == "help"
    args = cli.parse(["exec", "--cgroup", "memory:sub", "c1", "ls", "-l"])
    assert args.positional == ["c1", "ls", "-l"]


def test_ram_in_bytes() -> None:
    assert admin.ram_in_bytes("512") == 512
    assert admin.ram_in_bytes("32m") == 32 << 20
    assert admin.ram_in_bytes("1.5g") == 3 << 29
    assert admin.ram_in_bytes("64KiB") == 64 << 10
    with pytest.raises(InvalidArgument, match="invalid size: 'bogus'"):
        admin.ram_in_bytes("bogus")


def test_update_resources_from_flags() -> None:
    res = admin.update_resources(
        {"--memory": "32m", "--memory-swap": "-1", "--pids-limit": "50", "--cpuset-cpus": "0"}
    )
    assert res == {
        "memory": {"limit": 32 << 20, "swap": -1},
        "pids": {"limit": 50},
        "cpu": {"cpus": "0"},
    }
    with pytest.raises(InvalidArgument, match="invalid value for memory"):
        admin.update_resources({"--memory": "x"})
    with pytest.raises(InvalidArgument, match="-cpu-share"):
        admin.update_resources({"--cpu-share": "-3"})


def test_merge_keeps_untouched_keys() -> None:
    old = {"memory": {"limit": 1, "reservation": 2}, "pids": {"limit": 3}}
    assert admin.merge(old, {"memory": {"limit": 5}}) == {
        "memory": {"limit": 5, "reservation": 2},
        "pids": {"limit": 3},
    }


def test_parse_interval() -> None:
    assert admin.parse_interval("5s") == 5
    assert admin.parse_interval("200ms") == pytest.approx(0.2)
    assert admin.parse_interval("1m30s") == 90
    for bad in ("", "5", "bogus", "0s"):
        with pytest.raises(InvalidArgument):
            admin.parse_interval(bad)


def test_stats_event_shape() -> None:
    ev = admin.stats_event(
        "c1",
        {
            "cpu": {"usage_ns": 10, "user_ns": 4, "system_ns": 6},
            "memory": {"usage": 100, "limit": None, "max_usage": 150, "stat": {"cache": 7}},
            "pids": {"current": 2, "limit": None},
        },
    )
    assert ev["type"] == "stats" and ev["id"] == "c1"
    assert ev["data"]["cpu"]["usage"] == {"total": 10, "kernel": 6, "user": 4}
    assert ev["data"]["memory"]["usage"]["usage"] == 100
    assert ev["data"]["memory"]["cache"] == 7
    assert ev["data"]["pids"] == {"current": 2}  # runc's omitempty: no limit is no key
    assert ev["data"]["memory"]["usage"] == {
        "limit": 9223372036854771712,  # what runc reports for "unlimited"
        "usage": 100,
        "max": 150,
        "failcnt": 0,
    }
    assert ev["data"]["cpu"]["throttling"] == {}


def test_stats_event_v1_lists_as_runc() -> None:
    data = admin.runc_stats(
        {
            "cpu": {"usage_ns": 10, "percpu": [4, 6], "percpu_user": [1, 2], "periods": 3},
            "blkio": {
                "read_bytes": 1,
                "write_bytes": 0,
                "entries": {
                    "ioServiceBytesRecursive": [{"major": 8, "minor": 0, "op": "Read", "value": 1}],
                    "ioServicedRecursive": [],
                },
            },
        }
    )
    assert data["cpu"]["usage"] == {
        "total": 10,
        "percpu": [4, 6],
        "percpu_user": [1, 2],
        "kernel": 0,
        "user": 0,
    }
    assert data["cpu"]["throttling"] == {"periods": 3}
    # Go's omitempty: minor 0 is left out, an empty list is no key
    assert data["blkio"] == {"ioServiceBytesRecursive": [{"major": 8, "op": "Read", "value": 1}]}


def test_sub_cgroups() -> None:
    assert execproc.parse_sub_cgroups(["memory,pids:sub", "/x"]) == {
        "memory": "sub",
        "pids": "sub",
        "": "/x",
    }
    with pytest.raises(InvalidArgument):
        execproc.parse_sub_cgroups(["memory:"])
    with pytest.raises(InvalidArgument, match="unknown controller bogus"):
        execproc.sub_cgroup_paths({"memory": "/m"}, {"bogus": "s"})


def _fake_criu(tmp_path: Path, check_exit: int) -> str:
    """A stand-in CRIU: `--version` as CRIU prints it, `check` failing as Debian 12's
    CRIU 3.17.1 fails on this machine's kernel (or passing)."""
    path = tmp_path / "criu"
    path.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = --version ]; then echo "Version: 3.17.1"; exit 0; fi\n'
        'if [ "$1" = check ]; then\n'
        "  echo 'Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable' >&2\n"
        "  echo 'Error (criu/crtools.c:260): Could not initialize kernel features' >&2\n"
        f"  exit {check_exit}\nfi\nexit 9\n"
    )
    path.chmod(0o755)
    return str(path)


def test_checkpoint_with_a_criu_that_fails_on_this_kernel_says_so(tmp_path: Path) -> None:
    criu = _fake_criu(tmp_path, 1)
    with pytest.raises(FailedPrecondition) as info:
        admin.checkpoint_or_restore("restore", criu, None)
    assert str(info.value) == (
        "restore: criu 3.17.1 does not work on this kernel (`criu check`: "
        "Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable); a newer CRIU is needed"
    )


def test_checkpoint_with_a_working_criu_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FailedPrecondition, match=r"does not drive yet \(found criu 3\.17\.1"):
        admin.checkpoint_or_restore("restore", _fake_criu(tmp_path, 0), None)
