"""engine/mounts: -v, --mount, --volumes-from and anonymous volumes -> mount points (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from wharfie.cli.createbody import parse_mount
from wharfie.engine import mounts
from wharfie.errors import InvalidArgument


def _plan(
    host: dict[str, Any],
    config: dict[str, Any] | None = None,
    image: dict[str, Any] | None = None,
    frm: list[tuple[list[dict[str, Any]], bool]] | None = None,
) -> dict[str, Any]:
    points = mounts.plan(config or {}, host, image, frm or [])
    return {p["Destination"]: p for p in points}


def test_binds_named_and_anonymous() -> None:
    p = _plan(
        {"Binds": ["/h:/b:ro,rslave", "vol:/v", "other:/o:nocopy", "/anon2"]},
        config={"Volumes": {"/anon": {}}},
    )
    assert p["/b"]["Type"] == "bind" and p["/b"]["RW"] is False
    assert p["/b"]["Propagation"] == "rslave" and p["/b"]["Mode"] == "ro,rslave"
    assert p["/v"] == {
        **p["/v"],
        "Type": "volume",
        "Name": "vol",
        "Mode": "z",
        "RW": True,
        "CopyData": True,
        "Anonymous": False,
        "Driver": "local",
    }
    assert p["/o"]["CopyData"] is False
    assert p["/anon"]["Name"] == "" and p["/anon"]["Anonymous"] and p["/anon"]["Mode"] == ""
    assert p["/anon2"]["Anonymous"] is True


def test_mounts_volume_options_and_tmpfs() -> None:
    host = {
        "Mounts": [
            {
                "Type": "volume",
                "Source": "v",
                "Target": "/v",
                "ReadOnly": True,
                "VolumeOptions": {
                    "NoCopy": True,
                    "Labels": {"a": "b"},
                    "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}},
                },
            },
            {
                "Type": "tmpfs",
                "Target": "/t",
                "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770},
            },
            {"Type": "bind", "Source": "/", "Target": "/h", "BindOptions": {"NonRecursive": True}},
        ]
    }
    p = _plan(host)
    assert p["/v"]["RW"] is False and p["/v"]["CopyData"] is False
    assert p["/v"]["Labels"] == {"a": "b"} and p["/v"]["DriverOpts"] == {"type": "tmpfs"}
    assert p["/t"]["Options"] == ["noexec", "nosuid", "nodev", "size=1048576", "mode=1770"]
    spec = {m["Destination"]: m for m in mounts.spec_mounts([p["/t"], p["/h"]])}
    assert spec["/h"]["Recursive"] is False and spec["/h"]["Type"] == "bind"
    assert spec["/t"]["Type"] == "tmpfs"


def test_precedence_volumes_from_then_binds_then_anonymous() -> None:
    other = [
        {
            "Type": "volume",
            "Name": "x",
            "Source": "/s",
            "Destination": "/data",
            "RW": True,
            "Driver": "local",
            "Mode": "z",
            "Propagation": "",
        },
        {
            "Type": "bind",
            "Source": "/h",
            "Destination": "/shared",
            "RW": True,
            "Mode": "",
            "Propagation": "rprivate",
        },
    ]
    p = _plan(
        {"Binds": ["/mine:/shared"], "Tmpfs": {"/tmp": ""}},
        config={"Volumes": {"/data": {}, "/tmp": {}}},
        frm=[(other, False)],
    )
    assert p["/data"]["Name"] == "x" and p["/data"]["RW"] is False  # :ro
    assert p["/shared"]["Source"] == "/mine"  # the bind wins
    assert "/tmp" not in p  # Tmpfs covers it: no anonymous volume


def test_sorted_parents_first_and_public_fields() -> None:
    points = mounts.plan({}, {"Binds": ["/a:/x/y/z", "v:/x", "/b:/x/y"]}, None, [])
    assert [m["Destination"] for m in points] == ["/x", "/x/y", "/x/y/z"]
    points[0].update(Source="/vol/_data")
    pub = mounts.public(points)
    assert set(pub[0]) == {
        "Type",
        "Name",
        "Source",
        "Destination",
        "Driver",
        "Mode",
        "RW",
        "Propagation",
    }
    assert "Name" not in pub[1] and "Driver" not in pub[1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "volume-from specification cannot be an empty string"),
        ("c:rx", "invalid mode: rx"),
    ],
)
def test_volumes_from_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        mounts.parse_volumes_from(spec)


def test_volumes_from_modes() -> None:
    assert mounts.parse_volumes_from("c") == ("c", True)
    assert mounts.parse_volumes_from("c:ro") == ("c", False)


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        (
            {"Type": "volume", "Target": "/v", "BindOptions": {"Propagation": "shared"}},
            "BindOptions must not be specified",
        ),
        (
            {"Type": "bind", "Source": "/", "Target": "/v", "VolumeOptions": {"NoCopy": True}},
            "VolumeOptions must not be specified",
        ),
        (
            {"Type": "volume", "Source": "bad name", "Target": "/v"},
            "includes invalid characters for a local volume name",
        ),
        (
            {"Type": "bind", "Source": "/nonexistent/wharfie/x", "Target": "/v"},
            "bind source path does not exist: /nonexistent/wharfie/x",
        ),
        ({"Type": "nfs", "Target": "/v"}, "mount type unknown"),
    ],
)
def test_check_errors(mount: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        mounts.check({"Mounts": [mount]})


def test_cli_mount_flag() -> None:
    m = parse_mount(
        "type=volume,src=v,dst=/d,volume-nocopy,volume-label=a=b,"
        "volume-opt=type=tmpfs,volume-opt=device=tmpfs,volume-driver=local,ro"
    )
    assert m == {
        "Type": "volume",
        "Source": "v",
        "Target": "/d",
        "ReadOnly": True,
        "VolumeOptions": {
            "NoCopy": True,
            "Labels": {"a": "b"},
            "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs", "device": "tmpfs"}},
        },
    }
    m = parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770")
    assert m["TmpfsOptions"] == {"SizeBytes": 1 << 20, "Mode": 0o1770}
    m = parse_mount('type=bind,"src=/a,b",dst=/x,bind-propagation=rshared,bind-nonrecursive')
    assert m["Source"] == "/a,b"
    assert m["BindOptions"] == {"Propagation": "rshared", "NonRecursive": True}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("type=bind,src=/a,dst=/b,tmpfs-size=1m", "cannot mix 'tmpfs-\\*' options with mount type"),
        ("type=tmpfs,dst=/b,volume-nocopy", "cannot mix 'volume-\\*' options with mount type"),
        ("type=volume,dst=/b,bind-propagation=shared", "cannot mix 'bind-\\*' options"),
        ("src=/a", "target is required"),
        ("type=volume,dst=/b,foo=1", "unexpected key 'foo' in 'foo=1'"),
        ("type=volume,dst=/b,bogus", "invalid field 'bogus' must be a key=value pair"),
        ("type=volume,dst=/b,ro=maybe", "invalid value for ro: maybe"),
        ("type=tmpfs,dst=/b,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
    ],
)
def test_cli_mount_flag_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_mount(spec)


def test_runtime_spec_takes_resolved_points() -> None:
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_engine_spec import inputs

    from wharfie.engine import spec

    points = mounts.plan(
        {"Volumes": {"/anon": {}}},
        {"Binds": ["vol:/data", "/h:/data/sub:ro"], "Mounts": [{"Type": "tmpfs", "Target": "/t"}]},
        None,
        [],
    )
    for p in points:
        if p["Type"] == "volume":
            p["Source"] = f"/var/lib/wharfie/volumes/{p['Name'] or 'x'}/_data"
    inp = inputs()._replace(mounts=mounts.spec_mounts(points))
    own = {m["destination"]: m for m in spec.user_mounts(inp)}
    assert own["/data"] == {
        "destination": "/data",
        "type": "bind",
        "source": "/var/lib/wharfie/volumes/vol/_data",
        "options": ["rbind", "rprivate"],
    }
    assert own["/data/sub"]["options"] == ["rbind", "ro", "rprivate"]
    assert own["/anon"]["source"] == "/var/lib/wharfie/volumes/x/_data"
    assert own["/t"]["type"] == "tmpfs"
    order = [m["destination"] for m in spec.user_mounts(inp)]
    assert order.index("/data") < order.index("/data/sub")
