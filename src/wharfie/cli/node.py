"""`wharfie node ls|inspect|update|promote|demote|rm|ps`, with docker's flags and output."""

from __future__ import annotations

import sys

from wharfie.cli.flags import arity, parse, table
from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wharfie.cli.context import Context
    from wharfie.client.api import Client


def _ref(client: Client, ref: str) -> str:
    """`self` is this node (docker resolves it through /info)."""
    if ref == "self":
        return str(client.get_json("/info")["Swarm"]["NodeID"])
    return ref


def cmd_ls(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.fmt import render_rows
    from wharfie.cli.swarmfmt import NODE_FORMAT, NODE_HEADERS, NodeRow

    f = parse(argv, table("q quiet bool\n- format value\nf filter list"))
    if f.args:
        raise arity("node ls", "accepts no arguments")
    client = ctx.client
    nodes = client.get_json("/nodes", {"filters": filters_arg(f.all("filter"))}) or []
    from wharfie.cli.swarmfmt import _natural_key

    nodes.sort(key=lambda n: _natural_key((n.get("Description") or {}).get("Hostname") or ""))
    if f.on("quiet") and not f.has("format"):
        sys.stdout.write("".join(n["ID"] + "\n" for n in nodes))
        return 0
    info = client.get_json("/info").get("Swarm") or {}
    cluster_tls = (info.get("Cluster") or {}).get("TLSInfo") or {}
    rows = [NodeRow(n, info.get("NodeID") or "", cluster_tls) for n in nodes]
    sys.stdout.write(render_rows(rows, f.get("format") or NODE_FORMAT, NODE_HEADERS))
    return 0


def cmd_inspect(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import write_inspect
    from wharfie.cli.swarmfmt import node_pretty

    f = parse(argv, table("f format value\n- pretty bool"))
    if not f.args:
        raise arity("node inspect", "requires at least 1 argument")
    if f.on("pretty") and f.get("format"):
        raise InvalidArgument("--format is incompatible with human friendly format")
    client = ctx.client
    found = []
    for ref in f.args:
        try:
            found.append(client.get_json(f"/nodes/{_ref(client, ref)}"))
        except APIError as exc:
            if f.on("pretty") or exc.status != 404:
                raise
            write_inspect(found, f.get("format"))
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
            return 1
    if f.on("pretty"):
        sys.stdout.write("".join(node_pretty(n) + "\n" for n in found))
        return 0
    write_inspect(found, f.get("format"))
    return 0


UPDATE_FLAGS = table("- availability value\n- role value\n- label-add list\n- label-rm list")


def _update(client: Client, ref: str, change: Callable[[dict[str, Any]], None]) -> None:
    node = client.get_json(f"/nodes/{_ref(client, ref)}")
    spec = node.get("Spec") or {}
    change(spec)
    client.post_json(f"/nodes/{node['ID']}/update", spec, {"version": node["Version"]["Index"]})


def cmd_update(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, UPDATE_FLAGS)
    if len(f.args) != 1:
        raise arity("node update", "requires 1 argument")
    availability, role = f.get("availability"), f.get("role")  # checked by the daemon

    def change(spec: dict[str, Any]) -> None:
        if availability is not None:
            spec["Availability"] = availability
        if role is not None:
            spec["Role"] = role
        labels = dict(spec.get("Labels") or {})
        for key in f.all("label-rm"):
            if key not in labels:
                raise InvalidArgument(f"key {key} doesn't exist in node's labels")
            labels.pop(key)
        for item in f.all("label-add"):
            k, _, v = item.partition("=")
            labels[k] = v
        spec["Labels"] = labels

    _update(ctx.client, f.args[0], change)
    print(f.args[0])
    return 0


def _role_change(ctx: Context, argv: list[str], role: str) -> int:
    verb = "promote" if role == "manager" else "demote"
    f = parse(argv, table(""))
    if not f.args:
        raise arity(f"node {verb}", "requires at least 1 argument")
    client = ctx.client
    for ref in f.args:
        node = client.get_json(f"/nodes/{_ref(client, ref)}")
        spec = node.get("Spec") or {}
        if spec.get("Role") == role:
            what = "a manager" if role == "manager" else "a worker"
            print(f"Node {node['ID']} is already {what}.")
            continue
        spec["Role"] = role
        client.post_json(f"/nodes/{node['ID']}/update", spec, {"version": node["Version"]["Index"]})
        if role == "manager":
            print(f"Node {node['ID']} promoted to a manager in the swarm.")
        else:
            print(f"Manager {node['ID']} demoted in the swarm.")
    return 0


def cmd_promote(ctx: Context, argv: list[str]) -> int:
    return _role_change(ctx, argv, "manager")


def cmd_demote(ctx: Context, argv: list[str]) -> int:
    return _role_change(ctx, argv, "worker")


def cmd_rm(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("f force bool"))
    if not f.args:
        raise arity("node rm", "requires at least 1 argument")
    failed = []
    for ref in f.args:
        try:
            ctx.client.delete(f"/nodes/{ref}", {"force": f.on("force") or None})
        except APIError as exc:
            failed.append(exc.message)
            continue
        print(ref)
    if failed:
        sys.stderr.write("".join(f"Error response from daemon: {m}\n" for m in failed))
        return 1
    return 0


def cmd_ps(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.service import PS_FLAGS, print_tasks

    f = parse(argv, PS_FLAGS)
    client = ctx.client
    refs = f.args or ["self"]
    tasks: list[dict[str, Any]] = []
    seen: set[str] = set()
    errors = []
    for ref in refs:
        try:
            node = client.get_json(f"/nodes/{_ref(client, ref)}")
        except APIError as exc:
            errors.append(exc.message)
            continue
        filters = filters_arg(f.all("filter")) or {}
        filters["node"] = {node["ID"]: True}
        for t in client.get_json("/tasks", {"filters": filters}) or []:
            if t["ID"] not in seen:
                seen.add(t["ID"])
                tasks.append(t)
    if tasks or not errors:
        print_tasks(ctx, tasks, f)
    if errors:
        sys.stderr.write("Error response from daemon: " + "\n".join(errors) + "\n")
        return 1
    return 0
