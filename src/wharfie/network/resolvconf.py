"""A container's /etc/resolv.conf from the host's (pure), as dockerd 20.10's libnetwork
writes it (sandbox setupDNS / rebuildDNS, resolvconf.Build).

`dns`, `search` and `options` are what the container gets: its own HostConfig Dns,
DnsSearch and DnsOptions, or else the daemon's `dns`, `dns-search` and `dns-opts`.

* host network: the host's file as it is;
* otherwise the host's file without loopback nameservers (none left: Google's two); when any
  of dns, search or options is set, the file is made anew from them, each falling back on
  the host's (`search ...`, `nameserver ...` lines, `options ...`);
* on a user-defined network (the embedded DNS at 127.0.0.11): nameserver 127.0.0.11, the
  search domains and options above, and `ndots:0` after the options unless they set ndots.
"""

from __future__ import annotations

EMBEDDED = "127.0.0.11"


def render(
    host: str,
    mode: str,
    embedded: bool,
    dns: list[str],
    search: list[str],
    options: list[str],
) -> str:
    if mode == "host":
        return host
    text = _filtered(host)
    if dns or search or options:
        text = _build(
            dns or _values(text, "nameserver"),
            search or _values(text, "search"),
            options or _values(text, "options"),
        )
    if not embedded:
        return text
    opts = list(options or _values(text, "options"))
    if not any(o.startswith("ndots:") for o in opts):
        opts.append("ndots:0")
    search = search or _values(text, "search")
    lines = [f"nameserver {EMBEDDED}"]
    if search and " ".join(search).strip() != ".":
        lines.append("search " + " ".join(search))
    lines.append("options " + " ".join(opts))
    return "\n".join(lines) + "\n"


def _build(dns: list[str], search: list[str], options: list[str]) -> str:
    lines = []
    if search and " ".join(search).strip() != ".":
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {d}" for d in dns]
    if options and " ".join(options).strip():
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def _values(text: str, keyword: str) -> list[str]:
    """The words after `keyword` (every nameserver line; the last search/options line)."""
    found: list[str] = []
    for line in text.splitlines():
        words = line.split()
        if words and words[0] == keyword:
            found = [*found, *words[1:2]] if keyword == "nameserver" else words[1:]
    return found


def _filtered(host: str) -> str:
    """Private network namespace: loopback servers are unreachable and are dropped;
    with none left, Google's public servers, as dockerd."""
    lines = [
        ln for ln in host.splitlines() if not (ln.startswith("nameserver") and _is_loopback(ln))
    ]
    if not any(ln.startswith("nameserver") for ln in lines):
        lines += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(lines) + "\n"


def _is_loopback(line: str) -> bool:
    parts = line.split()
    return len(parts) > 1 and (parts[1].startswith("127.") or parts[1] == "::1")
