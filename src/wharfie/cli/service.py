"""`wharfie service create|ls|ps|inspect|scale|update|rollback|logs|rm`, with docker's flags,
output and messages. `create`, `update`, `scale` and `rollback` wait for the service to
converge with docker's progress output unless `--detach` (progress.py)."""

from __future__ import annotations

import sys
import time

from wharfie.cli.flags import arity, parse, table
from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument, WharfieError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context
    from wharfie.client.api import Client


class PlainError(WharfieError):
    """A message printed as is, exit status 1 (docker's errors that are not the daemon's)."""

    plain = True


def lookup(client: Client, kind: str, name: str) -> str:
    """The id of the secret/config/network called `name` (docker's ParseSecrets)."""
    if kind == "network":
        found = client.get_json("/networks", {"filters": {"name": {name: True}}}) or []
        for n in found:
            if n.get("Name") == name or n.get("Id") == name:
                return str(n["Id"])
        try:
            return str(client.get_json(f"/networks/{name}")["Id"])
        except APIError:
            raise APIError(404, f"network {name} not found") from None
    found = client.get_json(f"/{kind}s", {"filters": {"name": {name: True}}}) or []
    for b in found:
        if (b.get("Spec") or {}).get("Name") == name:
            return str(b["ID"])
    raise APIError(404, f"{kind} not found: {name}")


def _lookups(client: Client) -> tuple[Any, Any, Any]:
    return (
        lambda n: lookup(client, "secret", n),
        lambda n: lookup(client, "config", n),
        lambda n: lookup(client, "network", n),
    )


def resolve_image(
    client: Client, spec: dict[str, Any], query_registry: bool, shown: str = ""
) -> list[str]:
    """The docker client's registry query: pin the image to its digest when the registry
    knows it; otherwise docker's warning (naming `shown`, the image as the user wrote it,
    when given: `stack deploy` does not normalize it first)."""
    if not query_registry:
        return []
    cs = spec["TaskTemplate"]["ContainerSpec"]
    image = cs.get("Image") or ""
    shown = shown or image
    try:
        doc = client.get_json(f"/distribution/{image}/json")
    except (APIError, WharfieError):
        return [
            f"image {shown} could not be accessed on a registry to record\nits digest. Each "
            f"node will access {shown} independently,\npossibly leading to different nodes "
            "running different\nversions of the image.\n"
        ]
    digest = (doc.get("Descriptor") or {}).get("digest")
    if digest and "@" not in image:
        cs["Image"] = f"{image}@{digest}"
    return []


def cmd_create(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.servicespec import CREATE_FLAGS, create_spec

    f = parse(argv, CREATE_FLAGS, interspersed=False)
    client = ctx.client
    spec = create_spec(f, *_lookups(client))
    warnings = resolve_image(client, spec, not f.on("no-resolve-image"))
    doc = client.post_json("/services/create", spec)
    for w in warnings + (doc.get("Warnings") or []):
        sys.stderr.write(w + "\n")
    sid = doc["ID"]
    print(sid)
    if f.on("detach"):
        return 0
    return _wait(ctx, sid, f.on("quiet"))


def _wait(ctx: Context, sid: str, quiet: bool) -> int:
    from wharfie.cli.progress import service_progress

    sys.stdout.flush()
    try:
        service_progress(ctx.client, sid, None if quiet else sys.stdout)
    except KeyboardInterrupt:
        return 130
    return 0


def cmd_update(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.servicespec import UPDATE_FLAGS, update_spec

    f = parse(argv, UPDATE_FLAGS)
    if len(f.args) != 1:
        raise arity("service update", "requires 1 argument")
    client = ctx.client
    ref = f.args[0]
    svc = client.get_json(f"/services/{ref}", {"insertDefaults": False})
    version = svc["Version"]["Index"]
    query: dict[str, Any] = {"version": version}
    warnings: list[str] = []
    if f.on("rollback"):
        spec = svc.get("PreviousSpec")
        if spec is None:
            raise PlainError("service does not have a previous spec")
        query["rollback"] = "previous"
        body = svc["Spec"]
    else:
        body = update_spec(svc["Spec"], f, *_lookups(client))
        if f.has("image"):
            warnings = resolve_image(client, body, not f.on("no-resolve-image"))
        query["registryAuthFrom"] = "spec"
    doc = client.post_json(f"/services/{svc['ID']}/update", body, query) or {}
    for w in warnings + (doc.get("Warnings") or []):
        sys.stderr.write(w + "\n")
    print(ref)
    if f.on("detach"):
        return 0
    return _wait(ctx, ref, f.on("quiet"))


def cmd_rollback(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("d detach bool\nq quiet bool"))
    if len(f.args) != 1:
        raise arity("service rollback", "requires 1 argument")
    client = ctx.client
    ref = f.args[0]
    svc = client.get_json(f"/services/{ref}", {"insertDefaults": False})
    query = {"rollback": "previous", "version": svc["Version"]["Index"]}
    doc = client.post_json(f"/services/{svc['ID']}/update", svc["Spec"], query) or {}
    for w in doc.get("Warnings") or []:
        sys.stderr.write(w + "\n")
    print(ref)
    if f.on("detach"):
        return 0
    return _wait(ctx, ref, f.on("quiet"))


def cmd_scale(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("d detach bool"))
    if not f.args:
        raise arity("service scale", "requires at least 1 argument")
    for arg in f.args:
        name, eq, n = arg.partition("=")
        if not eq or not name:
            raise InvalidArgument(
                f"invalid scale specifier '{arg}'.\nSee 'wharfie service scale --help'.\n\n"
                "Usage:  wharfie service scale SERVICE=REPLICAS [SERVICE=REPLICAS...]\n\n"
                "Scale one or multiple replicated services"
            )
    client = ctx.client
    failed: list[str] = []
    scaled: list[str] = []
    for arg in f.args:
        name, _, n = arg.partition("=")
        try:
            _scale_one(client, name, n)
        except APIError as exc:
            failed.append(f"{name}: Error response from daemon: {exc.message}")
            continue
        except WharfieError as exc:
            failed.append(f"{name}: {exc}")
            continue
        print(f"{name} scaled to {n}")
        scaled.append(name)
    if not f.on("detach"):
        for name in scaled:
            code = _wait(ctx, name, False)
            if code:
                return code
    if failed:
        sys.stderr.write("".join(e + "\n" for e in failed))
        return 1
    return 0


def _scale_one(client: Client, name: str, n: str) -> None:
    if not n.isdigit():
        raise PlainError(f"invalid replicas value {n}: strconv.ParseUint: parsing \"{n}\": "
                         "invalid syntax")  # fmt: skip
    svc = client.get_json(f"/services/{name}", {"insertDefaults": False})
    spec = svc["Spec"]
    mode = spec.get("Mode") or {}
    if "Replicated" in mode:
        mode["Replicated"]["Replicas"] = int(n)
    elif "ReplicatedJob" in mode:
        mode["ReplicatedJob"]["TotalCompletions"] = int(n)
    else:
        raise PlainError("scale can only be used with replicated or replicated-job mode")
    client.post_json(f"/services/{svc['ID']}/update", spec, {"version": svc["Version"]["Index"]})


LS_FLAGS = table("q quiet bool\n- format value\nf filter list")


def cmd_ls(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.fmt import render_rows
    from wharfie.cli.swarmfmt import SERVICE_FORMAT, SERVICE_HEADERS, ServiceRow, _natural_key

    f = parse(argv, LS_FLAGS)
    if f.args:
        raise arity("service ls", "accepts no arguments")
    query = {"filters": filters_arg(f.all("filter")), "status": True}
    services = ctx.client.get_json("/services", query) or []
    services.sort(key=lambda s: _natural_key((s.get("Spec") or {}).get("Name") or ""))
    if f.on("quiet") and not f.has("format"):
        sys.stdout.write("".join(s["ID"] + "\n" for s in services))
        return 0
    fmt = f.get("format") or SERVICE_FORMAT
    sys.stdout.write(render_rows([ServiceRow(s) for s in services], fmt, SERVICE_HEADERS))
    return 0


PS_FLAGS = table("q quiet bool\n- format value\nf filter list\n- no-trunc bool\n- no-resolve bool")


def print_tasks(
    ctx: Context,
    tasks: list[dict[str, Any]],
    f: Any,
) -> None:
    """docker's task.Print for `service ps`, `node ps` and `stack ps`."""
    from wharfie.cli.fmt import render_rows
    from wharfie.cli.swarmfmt import TASK_FORMAT, TASK_HEADERS, task_rows

    trunc = not f.on("no-trunc")
    if f.on("quiet") and not f.has("format"):
        ids = [t["ID"] for t in tasks]
        sys.stdout.write("".join(i + "\n" for i in ids))
        return
    client = ctx.client
    services: dict[str, str] = {}
    nodes: dict[str, str] = {}
    if not f.on("no-resolve"):
        services = {s["ID"]: s["Spec"]["Name"] for s in client.get_json("/services") or []}
        nodes = {
            n["ID"]: (n.get("Description") or {}).get("Hostname") or n["ID"]
            for n in client.get_json("/nodes") or []
        }
    fmt = f.get("format") or TASK_FORMAT
    is_table = fmt.startswith("table")
    rows = task_rows(tasks, services, nodes, trunc, is_table, time.time())
    sys.stdout.write(render_rows(rows, fmt, TASK_HEADERS))


def cmd_ps(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg

    f = parse(argv, PS_FLAGS)
    if not f.args:
        raise arity("service ps", "requires at least 1 argument")
    client = ctx.client
    filters = filters_arg(f.all("filter")) or {}
    ids: dict[str, bool] = {}
    missing: list[str] = []
    services = client.get_json("/services") or []
    for ref in f.args:
        match = [s for s in services if s["ID"] == ref or s["Spec"]["Name"] == ref]
        if not match:
            match = [s for s in services if s["ID"].startswith(ref)]
        if not match:
            missing.append(f"no such service: {ref}")
            continue
        ids[match[0]["ID"]] = True
    if missing and not ids:
        raise PlainError("\n".join(missing))
    filters["service"] = ids
    if "node" in filters:
        filters["node"] = {_node_id(client, n): True for n in filters["node"]}
    tasks = client.get_json("/tasks", {"filters": filters}) or []
    print_tasks(ctx, tasks, f)
    if missing:
        raise PlainError("\n".join(missing))
    return 0


def _node_id(client: Client, ref: str) -> str:
    if ref == "self":
        return str(client.get_json("/info")["Swarm"]["NodeID"])
    try:
        return str(client.get_json(f"/nodes/{ref}")["ID"])
    except APIError:
        return ref


def cmd_inspect(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import write_inspect
    from wharfie.cli.swarmfmt import service_pretty

    f = parse(argv, table("f format value\n- pretty bool"))
    if not f.args:
        raise arity("service inspect", "requires at least 1 argument")
    if f.on("pretty") and f.get("format"):
        raise InvalidArgument("--format is incompatible with human friendly format")
    client = ctx.client
    found: list[Any] = []
    missing = ""
    for ref in f.args:
        try:
            found.append(client.get_json(f"/services/{ref}", {"insertDefaults": True}))
        except APIError as exc:
            if exc.status != 404:
                raise
            missing = f"no such service: {ref}"
            break
    if f.on("pretty"):
        nets: dict[str, str] = {}
        if any((s["Spec"].get("TaskTemplate") or {}).get("Networks") for s in found):
            nets = {n["Id"]: n["Name"] for n in client.get_json("/networks") or []}
        now = time.time()
        sys.stdout.write("".join(service_pretty(s, nets, now) + "\n\n" for s in found))
    elif not missing or found:
        from wharfie.cli.swarmfmt import go_order

        write_inspect([go_order(s) for s in found], f.get("format"))
    elif not f.get("format"):
        write_inspect([], None)
    if missing:
        sys.stderr.write(f"Error: {missing}\n")
        return 1
    return 0


def cmd_rm(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.secret import rm_swarm_objects

    return rm_swarm_objects("service", ctx, argv)


LOGS_FLAGS = table(
    """
    f follow bool
    - since value
    - until value
    n tail value
    t timestamps bool
    - details bool
    - no-trunc bool
    - no-task-ids bool
    - no-resolve bool
    - raw bool
    """
)


def cmd_logs(ctx: Context, argv: list[str]) -> int:
    """`service logs SERVICE|TASK`: each line prefixed `<task name>@<node>    | `."""
    from wharfie.cli.units import timestamp
    from wharfie.client.api import demux

    f = parse(argv, LOGS_FLAGS)
    if len(f.args) != 1:
        raise arity("service logs", "requires 1 argument")
    client = ctx.client
    ref = f.args[0]
    path = f"/services/{ref}/logs"
    is_task = False
    try:
        client.get_json(f"/services/{ref}", {"insertDefaults": False})
    except APIError as exc:
        if exc.status != 404:
            raise
        try:
            client.get_json(f"/tasks/{ref}")
        except APIError as exc2:
            if exc2.status != 404:
                raise
            raise PlainError(f"no such task or service: {ref}") from None
        path, is_task = f"/tasks/{ref}/logs", True
    query: dict[str, Any] = {
        "stdout": True,
        "stderr": True,
        "follow": f.on("follow") or None,
        "timestamps": f.on("timestamps") or None,
        "details": True,
        "tail": f.get("tail") or "all",
    }
    if f.get("since"):
        query["since"] = timestamp(f.get("since") or "")
    if f.get("until"):
        query["until"] = timestamp(f.get("until") or "")
    prefix_on = not f.on("raw")
    names = _LogNames(client, f.on("no-resolve"), f.on("no-trunc"), f.on("no-task-ids"))
    resp = client.request("GET", path, query=query, stream=True)
    try:
        for stream, data in demux(resp.iter_bytes()):
            out = sys.stdout if stream != 2 else sys.stderr
            for line in data.decode(errors="replace").splitlines(keepends=True):
                stamp = ""
                if f.on("timestamps"):  # the time comes first, then the details
                    stamp, _, line = line.partition(" ")
                    stamp += " "
                out.write(stamp + names.render(line, prefix_on, f.on("details"), is_task))
            out.flush()
    finally:
        resp.close()
    return 0


class _LogNames:
    """Prefixes of `service logs` lines from their details (`com.docker.swarm.*` ids)."""

    def __init__(self, client: Client, no_resolve: bool, no_trunc: bool, no_ids: bool) -> None:
        self.client = client
        self.no_resolve, self.no_trunc, self.no_ids = no_resolve, no_trunc, no_ids
        self.cache: dict[tuple[str, str], str] = {}
        self.width = 0

    def _name(self, kind: str, ident: str) -> str:
        if self.no_resolve:
            return ident
        key = (kind, ident)
        if key not in self.cache:
            try:
                doc = self.client.get_json(f"/{kind}s/{ident}")
                if kind == "node":
                    self.cache[key] = doc["Description"]["Hostname"]
                elif kind == "service":
                    self.cache[key] = doc["Spec"]["Name"]
                else:
                    self.cache[key] = str(doc.get("Slot") or doc.get("NodeID") or "")
            except (APIError, KeyError):
                self.cache[key] = ident
        return self.cache[key]

    def render(self, line: str, prefix_on: bool, details: bool, is_task: bool) -> str:
        head, sep, rest = line.partition(" ")
        if not sep or "=" not in head:
            return line
        attrs = dict(kv.partition("=")[::2] for kv in head.split(","))
        node = attrs.pop("com.docker.swarm.node.id", "")
        service = attrs.pop("com.docker.swarm.service.id", "")
        task = attrs.pop("com.docker.swarm.task.id", "")
        if not prefix_on:
            body = rest
        else:
            svc = self._name("service", service)
            slot = self._name("task", task)
            task_name = f"{svc}.{slot}"
            if not self.no_ids:
                task_name += "." + (task if self.no_trunc else task[:12])
            prefix = f"{task_name}@{self._name('node', node)}"
            self.width = max(self.width, len(prefix))
            body = f"{prefix.ljust(self.width)}    | {rest}"
        if details and attrs:
            body = ",".join(f"{k}={v}" for k, v in attrs.items()) + " " + body
        return body
