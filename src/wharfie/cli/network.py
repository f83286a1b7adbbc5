"""`wharfie network ls|create|inspect|rm|connect|disconnect|prune` and `wharfie port`,
with docker's flags and output."""

from __future__ import annotations

import sys

from wharfie.cli.flags import parse, table
from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context

LS_FORMAT = "table {{.ID}}\\t{{.Name}}\\t{{.Driver}}\\t{{.Scope}}"
HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


class NetworkRow:
    """A `network ls` row: the fields docker's network formatter offers."""

    def __init__(self, n: dict[str, Any], trunc: bool) -> None:
        self.ID = n["Id"][:12] if trunc else n["Id"]
        self.Name = n.get("Name") or ""
        self.Driver = n.get("Driver") or ""
        self.Scope = n.get("Scope") or ""
        self.IPv6 = str(bool(n.get("EnableIPv6"))).lower()
        self.Internal = str(bool(n.get("Internal"))).lower()
        self.CreatedAt = n.get("Created") or ""
        self._labels: dict[str, str] = n.get("Labels") or {}
        self.Labels = ",".join(f"{k}={v}" for k, v in sorted(self._labels.items()))

    def Label(self, name: str) -> str:  # {{.Label "key"}}
        return self._labels.get(name, "")


LS_FLAGS = table("q quiet bool\n- format value\nf filter list\n- no-trunc bool")


def cmd_ls(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.fmt import render_rows

    f = parse(argv, LS_FLAGS)
    if f.args:
        raise InvalidArgument('"network ls" accepts no arguments.')
    nets = ctx.client.get_json("/networks", {"filters": filters_arg(f.all("filter"))})
    nets = sorted(nets or [], key=lambda n: n.get("Name") or "")
    trunc = not f.on("no-trunc")
    if f.on("quiet") and not f.has("format"):
        sys.stdout.write("".join((n["Id"][:12] if trunc else n["Id"]) + "\n" for n in nets))
        return 0
    fmt = f.get("format") or LS_FORMAT
    sys.stdout.write(render_rows([NetworkRow(n, trunc) for n in nets], fmt, HEADERS))
    return 0


CREATE_FLAGS = table(
    """
    d driver value
    - subnet list
    - gateway list
    - ip-range list
    - aux-address list
    - internal bool
    - attachable bool
    - ingress bool
    - ipv6 bool
    - label list
    o opt list
    - ipam-driver value
    - ipam-opt list
    - scope value
    - config-only bool
    - config-from value
    """
)


def create_body(name: str, argv: list[str]) -> dict[str, Any]:
    """The `POST /networks/create` body of `network create` (pure)."""
    f = parse(argv, CREATE_FLAGS)
    subnets, gateways, ranges = f.all("subnet"), f.all("gateway"), f.all("ip-range")
    if len(gateways) > len(subnets) or len(ranges) > len(subnets):
        raise InvalidArgument("every ip-range or gateway must have a corresponding subnet")
    config: list[dict[str, Any]] = []
    aux = _kv(f.all("aux-address"))
    for i, subnet in enumerate(subnets):
        entry: dict[str, Any] = {"Subnet": subnet}
        if aux:
            entry["AuxiliaryAddresses"] = aux
        if i < len(ranges):
            entry["IPRange"] = ranges[i]
        if i < len(gateways):
            entry["Gateway"] = gateways[i]
        config.append(entry)
    return {
        "Name": name,
        "Driver": f.get("driver") or "bridge",
        "Scope": f.get("scope") or "",
        "EnableIPv6": f.on("ipv6") or None,
        "IPAM": {
            "Driver": f.get("ipam-driver") or "default",
            "Options": _kv(f.all("ipam-opt")),
            "Config": config,
        },
        "Internal": f.on("internal"),
        "Attachable": f.on("attachable"),
        "Ingress": f.on("ingress"),
        "ConfigOnly": f.on("config-only"),
        "ConfigFrom": {"Network": f.get("config-from")} if f.get("config-from") else None,
        "Options": _kv(f.all("opt")),
        "Labels": _kv(f.all("label")),
    }


def _kv(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        out[key] = value
    return out


def cmd_create(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, CREATE_FLAGS)
    if len(f.args) != 1:
        raise InvalidArgument('"network create" requires exactly 1 argument.')
    doc = ctx.client.post_json("/networks/create", create_body(f.args[0], argv))
    print(doc["Id"])
    return 0


def cmd_inspect(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import inspect_each

    f = parse(argv, table("f format value\nv verbose bool"))
    return inspect_each(
        ctx, f.args, f.get("format"), "network inspect", lambda name: f"/networks/{name}"
    )


def cmd_rm(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("f force bool"))
    if not f.args:
        raise InvalidArgument('"network rm" requires at least 1 argument.')
    failed = False
    for name in f.args:
        try:
            ctx.client.delete(f"/networks/{name}")
        except APIError as exc:
            if f.on("force") and exc.status == 404:
                continue  # -f: a missing network is neither printed nor an error
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
            failed = True
            continue
        print(name)
    return 1 if failed else 0


CONNECT_FLAGS = table(
    "- alias list\n- ip value\n- ip6 value\n- link list\n- link-local-ip list\n- driver-opt list"
)


def cmd_connect(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, CONNECT_FLAGS)
    if len(f.args) != 2:
        raise InvalidArgument('"network connect" requires exactly 2 arguments.')
    ipam = {"IPv4Address": f.get("ip")} if f.get("ip") else {}
    endpoint = {
        "IPAMConfig": ipam or None,
        "Aliases": f.all("alias") or None,
        "Links": f.all("link") or None,
        "DriverOpts": _kv(f.all("driver-opt")) or None,
    }
    ctx.client.post_json(
        f"/networks/{f.args[0]}/connect", {"Container": f.args[1], "EndpointConfig": endpoint}
    )
    return 0


def cmd_disconnect(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("f force bool"))
    if len(f.args) != 2:
        raise InvalidArgument('"network disconnect" requires exactly 2 arguments.')
    ctx.client.post_json(
        f"/networks/{f.args[0]}/disconnect", {"Container": f.args[1], "Force": f.on("force")}
    )
    return 0


def cmd_prune(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.system import _confirm

    f = parse(argv, table("- filter list\nf force bool"))
    warning = "WARNING! This will remove all custom networks not used by at least one container."
    if not _confirm(ctx, f.on("force"), warning):
        return 0
    query = {"filters": filters_arg(f.all("filter"))}
    doc = ctx.client.post_json("/networks/prune", None, query) or {}
    deleted = doc.get("NetworksDeleted") or []
    if deleted:
        print("Deleted Networks:\n" + "\n".join(deleted))
    return 0


def port_lines(ports: dict[str, Any], want: str = "") -> list[str]:
    """`docker port` output lines from NetworkSettings.Ports (pure)."""
    if want and "/" not in want:
        want += "/tcp"
    lines = []
    for key in sorted(ports or {}, key=lambda k: (int(k.split("/")[0]), k)):
        if want and key != want:
            continue
        for b in ports[key] or []:
            addr = f"{b['HostIp']}:{b['HostPort']}"
            lines.append(addr if want else f"{key} -> {addr}")
    return lines


def cmd_port(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table(""))
    if not 1 <= len(f.args) <= 2:
        raise InvalidArgument('"port" requires at least 1 and at most 2 arguments.')
    doc = ctx.client.get_json(f"/containers/{f.args[0]}/json")
    want = f.args[1] if len(f.args) > 1 else ""
    lines = port_lines((doc.get("NetworkSettings") or {}).get("Ports") or {}, want)
    if want and not lines:
        key = want if "/" in want else want + "/tcp"
        sys.stderr.write(f"Error: No public port '{key}' published for {f.args[0]}\n")
        return 1
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0
