"""The pure parts of published ports and the nftables table: plans, port maps, rendering."""

from __future__ import annotations

import pytest

from wharfie.errors import InvalidArgument
from wharfie.network import nft
from wharfie.network.ports import Binding, plan, port_map


def test_plan_expands_bindings_ranges_and_publish_all() -> None:
    got = plan(
        {
            "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}],
            "7000-7001/tcp": [{"HostPort": "9000-9001"}],
        },
        {"80/tcp": {}, "443/tcp": {}, "53/udp": {}},
        publish_all=True,
    )
    assert got == [
        Binding("tcp", 80, "", 8080),
        Binding("udp", 53, "127.0.0.1", 0),
        Binding("tcp", 7000, "", 9000),
        Binding("tcp", 7001, "", 9001),
        Binding("tcp", 443, "", 0),  # -P: the exposed port without a binding
    ]


def test_plan_without_publish_all_ignores_exposed_ports() -> None:
    assert plan(None, {"80/tcp": {}}, publish_all=False) == []
    assert plan({"80": [None]}, None, False) == [Binding("tcp", 80, "", 0)]


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"0/tcp": [{}]}, "invalid containerPort: 0"),
        ({"80/sctp": [{}]}, "sctp"),
        ({"80/icmp": [{}]}, "invalid proto: icmp"),
        ({"80/tcp": [{"HostPort": "x"}]}, "invalid hostPort: x"),
        ({"80/tcp": [{"HostIp": "nope"}]}, "invalid IP address: nope"),
        ({"80-82/tcp": [{"HostPort": "1-2"}]}, "invalid ranges"),
    ],
)
def test_plan_refuses_bad_bindings(bindings: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        plan(bindings, None, False)  # type: ignore[arg-type]


def test_port_map_lists_exposed_ports_and_bindings() -> None:
    bound = [Binding("tcp", 80, "", 8080), Binding("tcp", 80, "127.0.0.1", 8081)]
    assert port_map(bound, {"80/tcp": {}, "443/tcp": {}}) == {
        "80/tcp": [
            {"HostIp": "0.0.0.0", "HostPort": "8080"},
            {"HostIp": "127.0.0.1", "HostPort": "8081"},
        ],
        "443/tcp": None,
    }


def test_render_isolates_bridges_and_cuts_internal_ones_off() -> None:
    rs = nft.Ruleset(
        [
            nft.NetRule("wt0", "10.0.0.0/24"),
            nft.NetRule("br-a", "10.1.0.0/24"),
            nft.NetRule("br-i", "10.2.0.0/24", internal=True),
            nft.NetRule("", "10.3.0.0/24"),
        ]
    )
    text = nft.render("wharfie_wt0", rs)
    assert text.startswith("table ip wharfie_wt0 {}\ndelete table ip wharfie_wt0\n")
    assert 'iifname "wt0" oifname { "br-a", "br-i" } drop' in text
    assert 'iifname "br-a" oifname { "wt0", "br-i" } drop' in text
    assert 'iifname "br-i" oifname != "br-i" drop' in text
    assert 'oifname "br-i" iifname != "br-i" drop' in text
    assert "jump ports" not in text  # no published port, no nat rule


def test_render_publishes_ports_with_loopback_and_hairpin_masquerade() -> None:
    rs = nft.Ruleset(
        [nft.NetRule("wt0", "10.0.0.0/24")],
        [
            nft.PortRule("tcp", "", 8080, "10.0.0.2", 80, "wt0"),
            nft.PortRule("udp", "127.0.0.1", 5353, "10.0.0.3", 53, "wt0"),
        ],
    )
    text = nft.render("t", rs)
    assert "tcp dport 8080 dnat to 10.0.0.2:80" in text
    assert "ip daddr 127.0.0.1 udp dport 5353 dnat to 10.0.0.3:53" in text
    assert text.count("fib daddr type local jump ports") == 2  # prerouting and output
    assert 'oifname "wt0" ip saddr 127.0.0.0/8 masquerade' in text
    assert "ip saddr 10.0.0.2 ip daddr 10.0.0.2 tcp dport 80 masquerade" in text


def test_table_name_is_an_nft_identifier() -> None:
    assert nft.table_name("wharfie0") == "wharfie_wharfie0"
    assert nft.table_name("wt-1.2") == "wharfie_wt_1_2"
