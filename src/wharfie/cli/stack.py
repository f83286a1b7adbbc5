"""`wharfie stack deploy|ls|ps|services|rm`: a compose file as swarm objects grouped by the
`com.docker.stack.namespace` label (the conversion is wharfie.compose.stack), with docker's
flags, messages and tables."""

from __future__ import annotations

import os
import sys

from wharfie.cli.flags import arity, parse, table
from wharfie.client.api import APIError
from wharfie.compose.stack import IMAGE, NAMESPACE
from wharfie.errors import InvalidArgument, WharfieError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context
    from wharfie.client.api import Client
    from wharfie.compose.stack import StackObjects


class PlainError(WharfieError):
    plain = True


def _ns_filter(stack: str) -> dict[str, Any]:
    return {"label": {f"{NAMESPACE}={stack}": True}}


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name.lower()) or "." in name:
        raise InvalidArgument(f"invalid stack name: {name!r}")


DEPLOY_FLAGS = table(
    """
    c compose-file list
    - prune bool
    - resolve-image value
    - with-registry-auth bool
    d detach bool
    q quiet bool
    """
)


def cmd_deploy(ctx: Context, argv: list[str]) -> int:
    from wharfie.compose.stack import convert, load_stack

    f = parse(argv, DEPLOY_FLAGS)
    if len(f.args) != 1:
        raise arity("stack deploy", "requires 1 argument")
    stack = f.args[0]
    _check_name(stack)
    files = f.all("compose-file")
    if not files:
        raise PlainError("Please specify only one compose file (with --compose-file).")
    doc, model = load_stack(files, stack, os.environ)
    objects = convert(stack, doc, model)
    client = ctx.client
    info = client.get_json("/info").get("Swarm") or {}
    if not info.get("ControlAvailable"):
        raise PlainError(
            'this node is not a swarm manager. Use "wharfie swarm init" or "wharfie swarm '
            'join" to connect this node to swarm and try again'
        )
    detach = f.on("detach", True)
    if not f.has("detach"):
        sys.stderr.write(
            "Since --detach=false was not specified, tasks will be created in the background.\n"
            "In a future release, --detach=false will become the default.\n"
        )
    if f.on("prune"):
        _prune(client, stack, objects)
    _networks(client, stack, objects)
    secret_ids = _blobs(client, "secret", objects.secrets)
    config_ids = _blobs(client, "config", objects.configs)
    resolve = f.get("resolve-image") or "always"
    if resolve not in ("always", "changed", "never"):
        raise InvalidArgument(f"Invalid option {resolve} for flag --resolve-image")
    ids = _services(client, stack, objects, secret_ids, config_ids, resolve)
    if not detach:
        from wharfie.cli.progress import service_progress

        for _name, sid in ids:
            service_progress(client, sid, None if f.on("quiet") else sys.stdout)
    return 0


def _networks(client: Client, stack: str, objects: StackObjects) -> None:
    existing = {
        n["Name"]: n for n in client.get_json("/networks", {"filters": _ns_filter(stack)}) or []
    }
    for name in objects.external_networks:
        try:
            net = client.get_json(f"/networks/{name}")
        except APIError as exc:
            if exc.status == 404:
                raise PlainError(
                    f"network {name!r} is declared as external, but could not be found. You "
                    "need to create a swarm-scoped network before the stack is deployed"
                ) from None
            raise
        if net.get("Scope") != "swarm":
            raise PlainError(
                f"network {name!r} is declared as external, but it is not in the right scope: "
                f'{net.get("Scope")!r} instead of "swarm"'
            )
    for name, body in objects.networks.items():
        if name in existing:
            continue
        print(f"Creating network {name}")
        try:
            client.post_json("/networks/create", body)
        except APIError as exc:
            raise PlainError(
                f"failed to create network {name}: Error response from daemon: {exc.message}"
            ) from None


def _blobs(client: Client, kind: str, specs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Create (or update) each secret/config; their ids by name."""
    ids = {}
    for name, spec in specs.items():
        found = [
            b
            for b in client.get_json(f"/{kind}s", {"filters": {"name": {name: True}}}) or []
            if b["Spec"]["Name"] == name
        ]
        if found:  # docker updates it without a word
            b = found[0]
            try:
                client.request(
                    "POST",
                    f"/{kind}s/{b['ID']}/update",
                    query={"version": b["Version"]["Index"]},
                    body=spec,
                )
            except APIError as exc:
                raise PlainError(f"failed to update {kind} {name}: {exc.message}") from None
            ids[name] = b["ID"]
            continue
        print(f"Creating {kind} {name}")
        try:
            ids[name] = client.post_json(f"/{kind}s/create", spec)["ID"]
        except APIError as exc:
            raise PlainError(
                f"failed to create {kind} {name}: Error response from daemon: {exc.message}"
            ) from None
    return ids


def _ref_ids(client: Client, kind: str, refs: list[dict[str, Any]], ids: dict[str, str]) -> None:
    title = kind.capitalize()
    for ref in refs:
        name = ref[f"{title}Name"]
        if name not in ids:
            from wharfie.cli.service import lookup

            try:
                ids[name] = lookup(client, kind, name)
            except APIError:
                raise PlainError(f"{kind} not found: {name}") from None
        ref[f"{title}ID"] = ids[name]


def _services(
    client: Client,
    stack: str,
    objects: StackObjects,
    secret_ids: dict[str, str],
    config_ids: dict[str, str],
    resolve: str,
) -> list[tuple[str, str]]:
    from wharfie.cli.service import resolve_image

    existing = {
        s["Spec"]["Name"]: s
        for s in client.get_json("/services", {"filters": _ns_filter(stack)}) or []
    }
    out = []
    for name, spec in objects.services.items():
        cs = spec["TaskTemplate"]["ContainerSpec"]
        _ref_ids(client, "secret", cs.get("Secrets") or [], secret_ids)
        _ref_ids(client, "config", cs.get("Configs") or [], config_ids)
        old = existing.get(name)
        image = cs["Image"]
        query_registry = resolve == "always" or (
            resolve == "changed"
            and (old is None or old["Spec"]["Labels"].get("com.docker.stack.image") != image)
        )
        from wharfie.cli.servicespec import normalize_image

        cs["Image"] = normalize_image(image)
        if old is not None and not query_registry and image == old["Spec"]["Labels"].get(IMAGE):
            cs["Image"] = old["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]  # as resolved
        warnings = resolve_image(client, spec, query_registry, shown=image)
        if old is not None:
            print(f"Updating service {name} (id: {old['ID']})")
            # no --force in stack deploy: the service's ForceUpdate stays as it is
            spec["TaskTemplate"]["ForceUpdate"] = old["Spec"]["TaskTemplate"].get("ForceUpdate", 0)
            query = {"version": old["Version"]["Index"]}
            doc = client.post_json(f"/services/{old['ID']}/update", spec, query) or {}
            sid = old["ID"]
            for w in warnings + (doc.get("Warnings") or []):
                sys.stderr.write(w + "\n")
        else:  # docker prints no warnings for the services it creates
            print(f"Creating service {name}")
            sid = client.post_json("/services/create", spec)["ID"]
        out.append((name, sid))
    return out


def _prune(client: Client, stack: str, objects: StackObjects) -> None:
    for s in client.get_json("/services", {"filters": _ns_filter(stack)}) or []:
        if s["Spec"]["Name"] not in objects.services:
            print(f"Removing service {s['Spec']['Name']}")
            client.delete(f"/services/{s['ID']}")


def cmd_ls(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.fmt import render_rows

    f = parse(argv, table("- format value\n- orchestrator value"))
    if f.args:
        raise arity("stack ls", "accepts no arguments")
    services = ctx.client.get_json("/services", {"filters": {"label": {NAMESPACE: True}}}) or []
    counts: dict[str, int] = {}
    for s in services:
        ns = (s["Spec"].get("Labels") or {}).get(NAMESPACE)
        if ns:
            counts[ns] = counts.get(ns, 0) + 1
    rows = [_StackRow(name, n) for name, n in sorted(counts.items())]
    fmt = f.get("format") or "table {{.Name}}\\t{{.Services}}"
    sys.stdout.write(render_rows(rows, fmt, {"Name": "NAME", "Services": "SERVICES"}))
    return 0


class _StackRow:
    def __init__(self, name: str, services: int) -> None:
        self.Name = name
        self.Services = str(services)
        self.Orchestrator = "Swarm"
        self.Namespace = ""

    def as_dict(self) -> dict[str, str]:
        keys = ("Name", "Namespace", "Orchestrator", "Services")
        return {k: getattr(self, k) for k in keys}


def _stack_services(client: Client, stack: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        client.get_json("/services", {"filters": _ns_filter(stack), "status": True}) or []
    )
    return found


def cmd_services(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.fmt import render_rows
    from wharfie.cli.swarmfmt import SERVICE_FORMAT, SERVICE_HEADERS, ServiceRow, _natural_key

    f = parse(argv, table("q quiet bool\n- format value\nf filter list\n- orchestrator value"))
    if len(f.args) != 1:
        raise arity("stack services", "requires 1 argument")
    stack = f.args[0]
    filters = {**(filters_arg(f.all("filter")) or {}), **_ns_filter(stack)}
    services = ctx.client.get_json("/services", {"filters": filters, "status": True}) or []
    if not services and not f.all("filter"):
        sys.stderr.write(f"Nothing found in stack: {stack}\n")
        return 0
    services.sort(key=lambda s: _natural_key(s["Spec"]["Name"]))
    if f.on("quiet") and not f.has("format"):
        sys.stdout.write("".join(s["ID"] + "\n" for s in services))
        return 0
    fmt = f.get("format") or SERVICE_FORMAT
    sys.stdout.write(render_rows([ServiceRow(s) for s in services], fmt, SERVICE_HEADERS))
    return 0


def cmd_ps(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.service import PS_FLAGS, print_tasks

    f = parse(argv, PS_FLAGS)
    if len(f.args) != 1:
        raise arity("stack ps", "requires 1 argument")
    stack = f.args[0]
    client = ctx.client
    services = _stack_services(client, stack)
    if not services:
        raise PlainError(f"nothing found in stack: {stack}")
    filters = filters_arg(f.all("filter")) or {}
    filters["service"] = {s["ID"]: True for s in services}
    tasks = client.get_json("/tasks", {"filters": filters}) or []
    if not tasks:
        raise PlainError(f"nothing found in stack: {stack}")
    print_tasks(ctx, tasks, f)
    return 0


def cmd_rm(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("d detach bool"))
    if not f.args:
        raise arity("stack rm", "requires at least 1 argument")
    client = ctx.client
    failed = False
    for stack in f.args:
        filt = {"filters": _ns_filter(stack)}
        services = client.get_json("/services", filt) or []
        networks = client.get_json("/networks", filt) or []
        secrets = client.get_json("/secrets", filt) or []
        configs = client.get_json("/configs", filt) or []
        if not (services or networks or secrets or configs):
            print(f"Nothing found in stack: {stack}")
            continue
        errors: list[str] = []
        for s in sorted(services, key=lambda s: s["Spec"]["Name"]):
            print(f"Removing service {s['Spec']['Name']}")
            _remove(client, f"/services/{s['ID']}", f"service {s['ID']}", errors)
        for kind, items in (("secret", secrets), ("config", configs)):
            for b in sorted(items, key=lambda b: b["Spec"]["Name"]):
                print(f"Removing {kind} {b['Spec']['Name']}")
                _remove(client, f"/{kind}s/{b['ID']}", f"{kind} {b['ID']}", errors)
        for n in sorted(networks, key=lambda n: n["Name"]):
            print(f"Removing network {n['Name']}")
            _remove(client, f"/networks/{n['Id']}", f"network {n['Id']}", errors)
        if errors:
            sys.stderr.write("".join(e + "\n" for e in errors))
            sys.stderr.write(f"failed to remove some resources from stack: {stack}\n")
            failed = True
    return 1 if failed else 0


def _remove(client: Client, path: str, what: str, errors: list[str]) -> None:
    try:
        client.delete(path)
    except APIError as exc:
        errors.append(f"Failed to remove {what}: {exc.message}")
