"""Service VIPs balanced with nftables, inside a container's network namespace.

This kernel has no IPVS, so a connection to a service's virtual IP is DNATed in the output
hook of the namespace it starts from, to one of the service's running tasks, chosen by
`numgen inc` (round robin) through an anonymous map. The table is rendered whole (`render`,
pure) and applied in one `nft -f` transaction (`apply_in`), so an update is atomic; the NAT
of an established connection lives in conntrack and survives an update that keeps its task.
A VIP whose service has no running task rejects (TCP reset, ICMP unreachable) at once.
"""

from __future__ import annotations

import subprocess

from wharfie.network.nft import binary

TABLE = "wharfie_vip"


def render(vips: list[tuple[str, list[str]]]) -> str:
    """The `nft -f` script that replaces the namespace's VIP table with exactly `vips`
    ((VIP, backend addresses), in order)."""
    lines = [f"table ip {TABLE} {{}}", f"delete table ip {TABLE}"]
    if not vips:
        return "\n".join(lines) + "\n"
    lines += [
        f"table ip {TABLE} {{",
        "\tchain output {",
        "\t\ttype nat hook output priority -100; policy accept;",
    ]
    for vip, backends in sorted(vips):
        if not backends:
            continue
        if len(backends) == 1:
            lines.append(f"\t\tip daddr {vip} dnat to {backends[0]}")
            continue
        pairs = ", ".join(f"{i} : {b}" for i, b in enumerate(sorted(backends)))
        lines.append(f"\t\tip daddr {vip} dnat to numgen inc mod {len(backends)} map {{ {pairs} }}")
    lines.append("\t}")
    empty = sorted(v for v, b in vips if not b)
    if empty:
        lines += ["\tchain filter {", "\t\ttype filter hook output priority 0; policy accept;"]
        for v in empty:
            lines.append(f"\t\tip daddr {v} ip protocol tcp reject with tcp reset")
            lines.append(f"\t\tip daddr {v} reject")
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


INGRESS_TABLE = "wharfie_ingress"


def render_ingress(bridge: str, ports: list[tuple[str, int, int, list[str]]]) -> str:
    """The routing mesh in a node's own namespace: each published port (protocol, published,
    target, backends) answers on every local address, DNATed round robin to a task on the
    ingress network (any node), with the source NATed to this node's ingress address so the
    answer comes back through it. No port: the table goes."""
    lines = [f"table ip {INGRESS_TABLE} {{}}", f"delete table ip {INGRESS_TABLE}"]
    rules = []
    for proto, published, target, backends in sorted(ports):
        if not backends:
            rules.append(f"fib daddr type local {proto} dport {published} reject")
            continue
        if len(backends) == 1:
            to = f"{backends[0]}:{target}"
        else:
            pairs = ", ".join(f"{i} : {b}" for i, b in enumerate(sorted(backends)))
            to = f"numgen inc mod {len(backends)} map {{ {pairs} }}:{target}"
        rules.append(f"fib daddr type local {proto} dport {published} dnat to {to}")
    if not ports:
        return "\n".join(lines) + "\n"
    nat = [r for r in rules if " dnat " in r]
    drop = [r for r in rules if r.endswith(" reject")]
    lines.append(f"table ip {INGRESS_TABLE} {{")
    lines += [
        "\tchain prerouting {",
        "\t\ttype nat hook prerouting priority dstnat; policy accept;",
    ]
    lines += [f"\t\t{r}" for r in nat] + ["\t}"]
    lines += ["\tchain output {", "\t\ttype nat hook output priority -100; policy accept;"]
    lines += [f"\t\t{r}" for r in nat] + ["\t}"]
    lines += [
        "\tchain postrouting {",
        "\t\ttype nat hook postrouting priority srcnat; policy accept;",
    ]
    lines += [f'\t\toifname "{bridge}" ct status dnat masquerade', "\t}"]
    if drop:
        lines += ["\tchain input {", "\t\ttype filter hook input priority 0; policy accept;"]
        lines += [f"\t\t{r}" for r in drop] + ["\t}"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def apply_in(netns_path: str, script: str) -> None:
    """Run one nft transaction inside the namespace at `netns_path`."""
    exe = binary()
    if exe is None:
        raise FileNotFoundError("nft not found (install the nftables package)")
    done = subprocess.run(
        ["nsenter", f"--net={netns_path}", exe, "-f", "-"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise OSError(f"nft -f in {netns_path}: {done.stderr.strip() or f'exit {done.returncode}'}")
