"""Networks and volumes: create, inspect, list filters, connect, remove, errors."""

from __future__ import annotations

from harness import Side
from test_containers import BB, sleeper


def test_networks(differ) -> None:
    def s(d: Side) -> None:
        d.call(
            "create",
            "POST",
            "/networks/create",
            {
                "Name": "dn1",
                "Labels": {"a": "1"},
                "IPAM": {"Config": [{"Subnet": "10.251.7.0/24"}]},
            },
        )
        d.call("inspect", "GET", "/networks/dn1")
        d.call("create-dup", "POST", "/networks/create", {"Name": "dn1", "CheckDuplicate": True})
        d.call("create-no-name", "POST", "/networks/create", {})
        d.call("create-empty", "POST", "/networks/create", b"")
        d.call("create-bad-driver", "POST", "/networks/create", {"Name": "dn2", "Driver": "nope"})
        d.call(
            "create-bad-subnet",
            "POST",
            "/networks/create",
            {"Name": "dn3", "IPAM": {"Config": [{"Subnet": "300.1.1.0/24"}]}},
        )
        d.call(
            "create-overlap",
            "POST",
            "/networks/create",
            {"Name": "dn4", "IPAM": {"Config": [{"Subnet": "10.251.7.0/25"}]}},
        )
        d.call(
            "create-gw-outside",
            "POST",
            "/networks/create",
            {
                "Name": "dn5",
                "IPAM": {"Config": [{"Subnet": "10.251.9.0/24", "Gateway": "10.9.9.9"}]},
            },
        )
        d.call("create-labels-list", "POST", "/networks/create", {"Name": "dn6", "Labels": ["x"]})
        d.call("create-name-int", "POST", "/networks/create", {"Name": 5})
        d.call(
            "create-lowercase", "POST", "/networks/create", {"name": "dn7", "labels": {"b": "2"}}
        )
        d.call("inspect-lowercase", "GET", "/networks/dn7")
        d.call("create-predefined", "POST", "/networks/create", {"Name": "host"})
        d.call("inspect-missing", "GET", "/networks/nosuch")
        d.call("list-bad-filter", "GET", '/networks?filters={"bogus":["x"]}')
        d.call("list-type-bad", "GET", '/networks?filters={"type":["weird"]}')
        sleeper(d, "nc1")
        d.call("connect", "POST", "/networks/dn1/connect", {"Container": "nc1"}, kind="none")
        d.call("connect-again", "POST", "/networks/dn1/connect", {"Container": "nc1"})
        d.call("connect-missing-ctr", "POST", "/networks/dn1/connect", {"Container": "nosuch"})
        d.call("connect-missing-net", "POST", "/networks/nosuch/connect", {"Container": "nc1"})
        d.call("connect-bad-body", "POST", "/networks/dn1/connect", {"Container": 1})
        d.call("rm-in-use", "DELETE", "/networks/dn1")
        d.call("disconnect", "POST", "/networks/dn1/disconnect", {"Container": "nc1"}, kind="none")
        d.call("disconnect-again", "POST", "/networks/dn1/disconnect", {"Container": "nc1"})
        d.call("rm", "DELETE", "/networks/dn1", kind="none")
        d.call("rm-missing", "DELETE", "/networks/dn1")
        d.call("rm-predefined", "DELETE", "/networks/bridge")

    differ(s)


def test_volumes(differ) -> None:
    def s(d: Side) -> None:
        d.call("create", "POST", "/volumes/create", {"Name": "dv1", "Labels": {"a": "1"}})
        d.call("create-again", "POST", "/volumes/create", {"Name": "dv1"})
        d.call("inspect", "GET", "/volumes/dv1")
        d.call("create-bad-name", "POST", "/volumes/create", {"Name": "a/b"})
        d.call("create-newline-name", "POST", "/volumes/create", {"Name": "abc\n"})
        d.call("create-one-char", "POST", "/volumes/create", {"Name": "a"})
        d.call("create-bad-driver", "POST", "/volumes/create", {"Name": "dv2", "Driver": "nope"})
        d.call(
            "create-bad-opts",
            "POST",
            "/volumes/create",
            {"Name": "dv3", "DriverOpts": {"bogus": "1"}},
        )
        d.call("create-labels-list", "POST", "/volumes/create", {"Name": "dv4", "Labels": ["x"]})
        d.call("create-lowercase", "POST", "/volumes/create", {"name": "dv5"})
        d.call("inspect-lowercase", "GET", "/volumes/dv5")
        d.call("create-garbage", "POST", "/volumes/create", b"{x")
        d.call("create-empty", "POST", "/volumes/create", b"")
        d.call("inspect-missing", "GET", "/volumes/nosuch")
        d.call("list", "GET", '/volumes?filters={"name":["dv1"]}')
        d.call("list-bad-filter", "GET", '/volumes?filters={"bogus":["x"]}')
        d.call("list-dangling-bad", "GET", '/volumes?filters={"dangling":["maybe"]}')
        d.raw("POST", "/containers/create?name=vc1", {**BB, "HostConfig": {"Binds": ["dv1:/data"]}})
        d.call("rm-in-use", "DELETE", "/volumes/dv1")
        d.call("rm-missing", "DELETE", "/volumes/nosuch")
        d.call("rm-force-missing", "DELETE", "/volumes/nosuch?force=1", kind="none")
        d.raw("DELETE", "/containers/vc1")
        d.call("rm", "DELETE", "/volumes/dv1", kind="none")

    differ(s)
