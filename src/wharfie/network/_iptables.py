"""The iptables rules a bridge network needs (the one place this package runs a process).

Rules go into the built-in chains only (no chain of Docker's or podman's is touched), each
added once: `-C` checks for it first. `-w` waits for the xtables lock other engines hold.
A bridge gets:
* FORWARD `-i BR -o BR -j ACCEPT`: with br_netfilter loaded (Docker loads it) bridged
  frames between containers cross the FORWARD chain, whose policy Docker sets to DROP;
* FORWARD `-o BR` and `-i BR` with `-m conntrack --ctstate DNAT`: connections to published
  ports coming from (and answered to) other interfaces, masquerade or not;
* with masquerade, FORWARD rules letting the subnet out and replies back in, and
  nat POSTROUTING `-s SUBNET ! -o BR -j MASQUERADE`.
A bridge with IPv6 also gets the first three from ip6tables (`rules6`).
"""

from __future__ import annotations

import os

Rule = tuple[str, str, tuple[str, ...]]  # table, chain, match and target


def rules(bridge: str, subnet: str, masquerade: bool) -> list[Rule]:
    dnat = ("-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT")
    out: list[Rule] = [
        ("filter", "FORWARD", ("-i", bridge, "-o", bridge, "-j", "ACCEPT")),
        # published ports: connections DNATed (nft) from another interface, both ways
        ("filter", "FORWARD", ("-o", bridge, *dnat)),
        ("filter", "FORWARD", ("-i", bridge, *dnat)),
    ]
    if masquerade:
        out += [
            ("filter", "FORWARD", ("-i", bridge, "!", "-o", bridge, "-j", "ACCEPT")),
            (
                "filter",
                "FORWARD",
                (
                    "-o",
                    bridge,
                    "-m",
                    "conntrack",
                    "--ctstate",
                    "RELATED,ESTABLISHED",
                    "-j",
                    "ACCEPT",
                ),
            ),
            ("nat", "POSTROUTING", ("-s", subnet, "!", "-o", bridge, "-j", "MASQUERADE")),
        ]
    return out


def rules6(bridge: str) -> list[Rule]:
    """ip6tables FORWARD accepts of an IPv6 bridge (no NAT: its addresses stay local)."""
    dnat = ("-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT")
    return [
        ("filter", "FORWARD", ("-i", bridge, "-o", bridge, "-j", "ACCEPT")),
        ("filter", "FORWARD", ("-o", bridge, *dnat)),
        ("filter", "FORWARD", ("-i", bridge, *dnat)),
    ]


def binary(name: str = "iptables") -> str | None:
    """The iptables (or ip6tables) program, also looked for in sbin directories a daemon's
    PATH may lack."""
    import shutil

    found = shutil.which(name)
    for path in (found, f"/usr/sbin/{name}", f"/sbin/{name}"):
        if path and os.access(path, os.X_OK):
            return path
    return None


def _run(exe: str, action: str, rule: Rule) -> int:
    import subprocess

    table, chain, spec = rule
    argv = [exe, "-w", "-t", table, action, chain, *spec]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 1) or (done.returncode == 1 and action != "-C"):
        raise OSError(f"{' '.join(argv)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done.returncode


def ensure(exe: str, wanted: list[Rule]) -> None:
    """Append each rule that is not there yet."""
    for rule in wanted:
        if _run(exe, "-C", rule) != 0:
            _run(exe, "-A", rule)


def remove(exe: str, wanted: list[Rule]) -> None:
    """Delete each rule that is there (every copy of it)."""
    for rule in wanted:
        while _run(exe, "-C", rule) == 0:
            _run(exe, "-D", rule)
