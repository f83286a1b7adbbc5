"""The daemon's nftables table: isolation between networks and published ports.

One table per daemon (`ip wharfie_<default bridge>`, so parallel daemons never share
one) holds every rule this package needs besides the iptables FORWARD accepts
(`_iptables`). The whole table is rendered from the daemon's state by the pure
`render()` and replaced in one `nft -f -` transaction (create, delete, define), so a
change is atomic and a daemon that crashed is reconciled by rendering again at start.

Chains:
* `forward` (filter, before iptables' FORWARD): traffic from one of our bridges to
  another of our bridges is dropped; an `--internal` network's bridge is cut off from
  every other interface in both directions.
* `prerouting` / `output` (dnat): published ports. A destination address that is local
  (`fib daddr type local`), or the binding's host IP, goes to the container's address.
  `output` covers connections the host itself makes (127.0.0.1 and its other addresses).
* `postrouting` (snat): connections DNATed from 127.0.0.0/8 are masqueraded to the
  bridge's address (the bridge has `route_localnet` on, so the kernel routes them), and
  hairpin connections (a container to its own published port) are masqueraded too.

Not here: the ports `ports.relayed()` names (an IPv6 host address for an IPv4 container,
and `::1`), which the daemon relays in userland (`relay`).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field


@dataclass(frozen=True)
class NetRule:
    """One of our networks as the firewall sees it."""

    bridge: str  # "" for drivers without a bridge (macvlan)
    subnet: str
    internal: bool = False


@dataclass(frozen=True)
class PortRule:
    """A published port: host (ip, port) -> container (ip, port) over proto."""

    proto: str
    host_ip: str  # "" or "0.0.0.0" for every local address
    host_port: int
    container_ip: str
    container_port: int
    bridge: str = ""


@dataclass
class Ruleset:
    networks: list[NetRule] = field(default_factory=list)
    ports: list[PortRule] = field(default_factory=list)
    ipv6: bool = False  # some network has IPv6: the same isolation in an ip6 table


def table_name(default_bridge: str) -> str:
    return "wharfie_" + re.sub(r"[^A-Za-z0-9_]", "_", default_bridge)


def _q(name: str) -> str:
    return '"' + name.replace('"', "") + '"'


def _forward(rs: Ruleset) -> list[str]:
    bridges = [n.bridge for n in rs.networks if n.bridge]
    out = []
    for net in rs.networks:
        if not net.bridge:
            continue
        if net.internal:
            out.append(f"iifname {_q(net.bridge)} oifname != {_q(net.bridge)} drop")
            out.append(f"oifname {_q(net.bridge)} iifname != {_q(net.bridge)} drop")
            continue
        others = [b for b in bridges if b != net.bridge]
        if others:
            names = ", ".join(_q(b) for b in others)
            out.append(f"iifname {_q(net.bridge)} oifname {{ {names} }} drop")
    return out


def _v6(p: PortRule) -> bool:
    return ":" in p.container_ip


def _dnat(p: PortRule) -> str:
    if _v6(p):
        match = "" if p.host_ip in ("", "::") else f"ip6 daddr {p.host_ip} "
        target = f"[{p.container_ip}]:{p.container_port}"
    else:
        match = "" if p.host_ip in ("", "0.0.0.0") else f"ip daddr {p.host_ip} "
        target = f"{p.container_ip}:{p.container_port}"
    return f"{match}{p.proto} dport {p.host_port} dnat to {target}"


def _postrouting(ports: list[PortRule], v6: bool) -> list[str]:
    out = []
    ip, loopback = ("ip6", "::1") if v6 else ("ip", "127.0.0.0/8")
    for bridge in sorted({p.bridge for p in ports if p.bridge}):
        out.append(f"oifname {_q(bridge)} {ip} saddr {loopback} masquerade")
    for p in ports:
        out.append(
            f"{ip} saddr {p.container_ip} {ip} daddr {p.container_ip} "
            f"{p.proto} dport {p.container_port} masquerade"
        )
    return out


def _chain(name: str, head: str, rules: list[str]) -> list[str]:
    body = [f"\t\t{head}"] if head else []
    return [f"\tchain {name} {{", *body, *(f"\t\t{r}" for r in rules), "\t}"]


def render(table: str, rs: Ruleset) -> str:
    """The `nft -f` script that replaces the table with exactly `rs`, in one transaction.
    With IPv6, an `ip6` table of the same name gets the same isolation (the rules name
    interfaces only) and the IPv6 published ports; without, it is deleted."""
    lines = [f"table ip {table} {{}}", f"delete table ip {table}"]
    # an IPv6 host address for an IPv4 container is relayed in userland (relay.py)
    lines += _table("ip", table, rs, [p for p in rs.ports if not _v6(p) and ":" not in p.host_ip])
    lines += [f"table ip6 {table} {{}}", f"delete table ip6 {table}"]
    if rs.ipv6:
        lines += _table("ip6", table, rs, [p for p in rs.ports if _v6(p)])
    return "\n".join(lines) + "\n"


def _table(family: str, table: str, rs: Ruleset, ports: list[PortRule]) -> list[str]:
    lines = [f"table {family} {table} {{"]
    lines += _chain(
        "forward", "type filter hook forward priority filter - 1; policy accept;", _forward(rs)
    )
    dnat = [_dnat(p) for p in ports if p.host_ip != "::1"]
    if family == "ip6" and dnat:  # ::1 is relayed in userland (relay.py), never DNATed
        dnat.insert(0, "ip6 daddr ::1 return")
    lines += _chain("ports", "", dnat)
    lines += _chain(
        "prerouting",
        "type nat hook prerouting priority dstnat; policy accept;",
        ["fib daddr type local jump ports"] if dnat else [],
    )
    lines += _chain(
        "output",
        "type nat hook output priority -100; policy accept;",
        ["fib daddr type local jump ports"] if dnat else [],
    )
    lines += _chain(
        "postrouting",
        "type nat hook postrouting priority srcnat; policy accept;",
        _postrouting(ports, family == "ip6"),
    )
    lines.append("}")
    return lines


def binary() -> str | None:
    import os
    import shutil

    for path in (shutil.which("nft"), "/usr/sbin/nft", "/sbin/nft"):
        if path and os.access(path, os.X_OK):
            return path
    return None


def apply(script: str) -> None:
    """Run one nft transaction; OSError with nft's message if it is refused."""
    exe = binary()
    if exe is None:
        raise FileNotFoundError("nft not found (install the nftables package)")
    done = subprocess.run(
        [exe, "-f", "-"], input=script, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise OSError(f"nft -f: {done.stderr.strip() or f'exit {done.returncode}'}")


def delete_table(table: str) -> None:
    """Remove the table if it exists."""
    if binary() is None:
        return
    apply(
        f"table ip {table} {{}}\ndelete table ip {table}\n"
        f"table ip6 {table} {{}}\ndelete table ip6 {table}\n"
    )


def list_tables() -> list[str]:
    """Names of the ip-family tables (tests look for leftovers)."""
    exe = binary()
    if exe is None:
        return []
    done = subprocess.run(
        [exe, "list", "tables", "ip"], capture_output=True, text=True, check=False
    )
    return [ln.split()[-1] for ln in done.stdout.splitlines() if ln.startswith("table ip ")]
