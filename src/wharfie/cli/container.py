"""Container commands without a hijacked stream: ps, logs, stop, rm, inspect, cp..."""

from __future__ import annotations

import os
import sys

from wharfie.cli.flags import parse, table
from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wharfie.cli.context import Context

PS_FORMAT = (
    "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}"
    "\\t{{.Names}}"
)

PS_FLAGS = table(
    """
    a all bool
    q quiet bool
    n last value
    l latest bool
    s size bool
    - no-trunc bool
    f filter list
    - format value
    """
)


def filters_arg(items: list[str]) -> dict[str, dict[str, bool]] | None:
    """-f k=v (repeated) -> {"k": {"v": true}}, docker's filter JSON."""
    out: dict[str, dict[str, bool]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key.strip().lower(), {})[value] = True
    return out or None


def cmd_ps(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, PS_FLAGS)
    if f.args:
        raise InvalidArgument('"ps" accepts no arguments.')
    limit = 1 if f.on("latest") else int(f.get("last") or -1)
    query: dict[str, Any] = {"all": f.on("all") or None, "size": f.on("size") or None}
    if limit > 0:
        query["limit"] = limit
    filters = filters_arg(f.all("filter"))
    if filters:
        query["filters"] = filters
    containers = ctx.client.get_json("/containers/json", query)
    trunc = not f.on("no-trunc")
    if f.on("quiet") and not f.has("format"):
        ids = [c["Id"][:12] if trunc else c["Id"] for c in containers]
        sys.stdout.write("".join(i + "\n" for i in ids))
        return 0
    from wharfie.cli.fmt import ContainerRow, render_rows

    fmt = f.get("format") or PS_FORMAT
    if not f.has("format") and f.on("size"):
        fmt += "\\t{{.Size}}"
    rows = [ContainerRow(c, trunc) for c in containers]
    sys.stdout.write(render_rows(rows, fmt))
    return 0


LOGS_FLAGS = table(
    """
    f follow bool
    t timestamps bool
    n tail value
    - since value
    - until value
    - details bool
    """
)


def cmd_logs(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.stream import copy_stream
    from wharfie.cli.units import timestamp

    f = parse(argv, LOGS_FLAGS)
    if len(f.args) != 1:
        raise InvalidArgument('"logs" requires exactly 1 argument.')
    client = ctx.client
    info = client.get_json(f"/containers/{f.args[0]}/json")
    query: dict[str, Any] = {"stderr": True, "stdout": True, "tail": f.get("tail") or "all"}
    query |= {"follow": f.on("follow") or None, "timestamps": f.on("timestamps") or None}
    query["details"] = f.on("details") or None
    if f.has("since"):
        query["since"] = timestamp(f.get("since") or "")
    if f.has("until"):
        query["until"] = timestamp(f.get("until") or "")
    with client.request("GET", f"/containers/{info['Id']}/logs", query=query, stream=True) as r:
        copy_stream(r.iter_bytes(), tty=bool(info["Config"]["Tty"]))
    return 0


def each(ctx: Context, refs: list[str], action: Callable[[str], object], verb: str) -> int:
    """Apply to every argument; print it on success, docker's error lines otherwise
    (also `network rm`, `volume rm`)."""
    if not refs:
        raise InvalidArgument(f'"{verb}" requires at least 1 argument.')
    failed = False
    for ref in refs:
        try:
            action(ref)
        except APIError as exc:
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
            failed = True
            continue
        sys.stdout.write(ref + "\n")
    return 1 if failed else 0


def _each_at_once(
    ctx: Context, refs: list[str], method: str, path: str, query: dict[str, Any], verb: str
) -> int:
    """Like each for one request per container, sent all at once as docker does for
    rm/stop/kill/pause of several containers; reported in argument order. `path` has a
    `{}` for the reference."""
    if len(refs) < 2:
        client = ctx.client
        return each(ctx, refs, lambda r: client.request(method, path.format(r), query=query), verb)
    failed = False
    errors = ctx.client.request_each(method, [path.format(r) for r in refs], query=query)
    for ref, err in zip(refs, errors, strict=True):
        if err is not None:
            sys.stderr.write(f"Error response from daemon: {err.message}\n")
            failed = True
        else:
            sys.stdout.write(ref + "\n")
    return 1 if failed else 0


STOP_FLAGS = table(
    """
    t time value timeout
    s signal value
    """
)


def cmd_stop(ctx: Context, argv: list[str]) -> int:
    return _stop_like(ctx, argv, "stop")


def cmd_restart(ctx: Context, argv: list[str]) -> int:
    return _stop_like(ctx, argv, "restart")


def _stop_like(ctx: Context, argv: list[str], verb: str) -> int:
    f = parse(argv, STOP_FLAGS)
    query = {"t": f.get("time"), "signal": f.get("signal")}
    return _each_at_once(ctx, f.args, "POST", "/containers/{}/" + verb, query, verb)


def cmd_kill(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("s signal value"))
    query = {"signal": f.get("signal")}
    return _each_at_once(ctx, f.args, "POST", "/containers/{}/kill", query, "kill")


def cmd_rm(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("f force bool\nv volumes bool\nl link bool"))
    query = {"force": f.on("force") or None, "v": f.on("volumes") or None}
    query["link"] = f.on("link") or None
    return _each_at_once(ctx, f.args, "DELETE", "/containers/{}", query, "rm")


def cmd_pause(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, {})
    return _each_at_once(ctx, f.args, "POST", "/containers/{}/pause", {}, "pause")


def cmd_unpause(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, {})
    return _each_at_once(ctx, f.args, "POST", "/containers/{}/unpause", {}, "unpause")


def cmd_wait(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, {})
    if not f.args:
        raise InvalidArgument('"wait" requires at least 1 argument.')
    failed = False
    for ref in f.args:
        try:
            doc = ctx.client.post_json(f"/containers/{ref}/wait")
        except APIError as exc:
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
            failed = True
            continue
        print(doc.get("StatusCode", 0))
    return 1 if failed else 0


def cmd_rename(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, {})
    if len(f.args) != 2:
        raise InvalidArgument('"rename" requires exactly 2 arguments.')
    ctx.client.request("POST", f"/containers/{f.args[0]}/rename", query={"name": f.args[1]})
    return 0


UPDATE_FLAGS = table(
    """
    m memory value
    - memory-swap value
    - memory-reservation value
    - cpus value
    c cpu-shares value
    - cpuset-cpus value
    - pids-limit value
    - restart value
    """
)


def update_body(f: Any) -> dict[str, Any]:
    from wharfie.cli.createbody import nano_cpus, parse_restart
    from wharfie.cli.units import ram_in_bytes

    body: dict[str, Any] = {}
    if f.has("memory"):
        body["Memory"] = ram_in_bytes(f.get("memory"))
    if f.has("memory-swap"):
        swap = f.get("memory-swap")
        body["MemorySwap"] = -1 if swap == "-1" else ram_in_bytes(swap)
    if f.has("memory-reservation"):
        body["MemoryReservation"] = ram_in_bytes(f.get("memory-reservation"))
    if f.has("cpus"):
        body["NanoCpus"] = nano_cpus(f.get("cpus"))
    if f.has("cpu-shares"):
        body["CpuShares"] = int(f.get("cpu-shares"))
    if f.has("cpuset-cpus"):
        body["CpusetCpus"] = f.get("cpuset-cpus")
    if f.has("pids-limit"):
        body["PidsLimit"] = int(f.get("pids-limit"))
    if f.has("restart"):
        body["RestartPolicy"] = parse_restart(f.get("restart"))
    if not body:
        raise InvalidArgument("you must provide one or more flags when using this command")
    return body


def cmd_update(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, UPDATE_FLAGS)
    body = update_body(f)
    client = ctx.client

    def one(ref: str) -> None:
        resp = client.post_json(f"/containers/{ref}/update", body)
        for w in (resp or {}).get("Warnings") or []:
            sys.stderr.write(f"WARNING: {w}\n")

    return each(ctx, f.args, one, "update")


INSPECT_FLAGS = table(
    """
    f format value
    s size bool
    - type value
    """
)


def _dump_indent(objs: list[Any]) -> str:
    import json

    return json.dumps(objs, indent=4, ensure_ascii=False) + "\n"


def cmd_inspect(ctx: Context, argv: list[str], kind: str | None = None) -> int:
    f = parse(argv, INSPECT_FLAGS)
    if not f.args:
        raise InvalidArgument('"inspect" requires at least 1 argument.')
    kind = kind or f.get("type")
    client = ctx.client
    found: list[Any] = []
    failed = False
    for ref in f.args:
        obj = _inspect_one(client, ref, kind, f.on("size"))
        if obj is None:
            what = {"container": "container", "image": "image"}.get(kind or "", "object")
            sys.stderr.write(f"Error: No such {what}: {ref}\n")
            failed = True
        else:
            found.append(obj)
    write_inspect(found, f.get("format"))
    return 1 if failed else 0


def write_inspect(found: list[Any], fmt: str | None) -> None:
    """Inspect output: `--format` per object, or the JSON array docker prints."""
    if fmt:
        from wharfie.cli.template import docker_format, render
        from wharfie.cli.template import parse as parse_template

        nodes = parse_template(docker_format(fmt)[1])
        sys.stdout.write("".join(render(nodes, obj) + "\n" for obj in found))
    else:
        sys.stdout.write(_dump_indent(found))


def inspect_each(
    ctx: Context, refs: list[str], fmt: str | None, verb: str, path: Callable[[str], str]
) -> int:
    """`network inspect`/`volume inspect`: GET each; a 404 is the daemon's own message."""
    if not refs:
        raise InvalidArgument(f'"{verb}" requires at least 1 argument.')
    found: list[Any] = []
    failed = False
    for ref in refs:
        try:
            found.append(ctx.client.get_json(path(ref)))
        except APIError as exc:
            if exc.status != 404:
                raise
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
            failed = True
    write_inspect(found, fmt)
    return 1 if failed else 0


def _inspect_one(client: Any, ref: str, kind: str | None, size: bool) -> Any:
    paths: list[tuple[str, dict[str, Any] | None]] = []
    if kind in (None, "container"):
        paths.append((f"/containers/{ref}/json", {"size": size or None}))
    if kind in (None, "image"):
        paths.append((f"/images/{ref}/json", None))
    if kind in (None, "network"):
        paths.append((f"/networks/{ref}", None))
    if kind in (None, "volume"):
        paths.append((f"/volumes/{ref}", None))
    for path, query in paths:
        try:
            return client.get_json(path, query)
        except APIError as exc:
            if exc.status != 404:
                raise
    return None


def cmd_container_inspect(ctx: Context, argv: list[str]) -> int:
    return cmd_inspect(ctx, argv, "container")


def cmd_top(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.units import tabulate

    f = parse(argv, {}, interspersed=False)
    if not f.args:
        raise InvalidArgument('"top" requires at least 1 argument.')
    query = {"ps_args": " ".join(f.args[1:])} if len(f.args) > 1 else None
    doc = ctx.client.get_json(f"/containers/{f.args[0]}/top", query)
    rows = [list(doc.get("Titles") or [])] + [list(p) for p in doc.get("Processes") or []]
    sys.stdout.write(tabulate(rows, minwidth=20))
    return 0


STATS_FLAGS = table(
    """
    a all bool
    - no-stream bool
    - no-trunc bool
    - format value
    """
)
STATS_FORMAT = (
    "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}"
    "\\t{{.BlockIO}}\\t{{.PIDs}}"
)


def cmd_stats(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.fmt import render_rows
    from wharfie.cli.stats import StatsRow

    f = parse(argv, STATS_FLAGS)
    client = ctx.client
    fmt = f.get("format") or STATS_FORMAT
    headers = {"ID": "CONTAINER ID", "Container": "CONTAINER"}
    from wharfie.cli.fmt import HEADERS

    headers = HEADERS | headers
    tty = os.isatty(1)
    while True:
        refs = f.args or [
            c["Id"] for c in client.get_json("/containers/json", {"all": f.on("all") or None})
        ]
        rows = []
        for ref in refs:
            try:
                s = client.get_json(f"/containers/{ref}/stats", {"stream": False})
            except APIError as exc:
                if f.args:
                    raise
                if exc.status != 404:
                    raise
                continue
            row = StatsRow(ref, s)
            if f.on("no-trunc"):
                row.ID = s.get("id") or ref
            rows.append(row)
        out = render_rows(rows, fmt, headers)
        if f.on("no-stream"):
            sys.stdout.write(out)
            return 0
        sys.stdout.write(("\033[2J\033[H" if tty else "") + out)
        sys.stdout.flush()


def _split_cp(arg: str) -> tuple[str | None, str]:
    """ "c:/path" -> ("c", "/path"); local paths (also ./a:b, /a:b) -> (None, path)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    ref, _, path = arg.partition(":")
    return ref, path


def cmd_cp(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("a archive bool\nL follow-link bool\nq quiet bool"))
    if len(f.args) != 2:
        raise InvalidArgument('"cp" requires exactly 2 arguments.')
    src_ref, src = _split_cp(f.args[0])
    dst_ref, dst = _split_cp(f.args[1])
    if (src_ref is None) == (dst_ref is None):
        raise InvalidArgument(
            "must specify at least one container source"
            if src_ref is None
            else "copying between containers is not supported"
        )
    from wharfie.cli import copy

    if src_ref is not None:
        copy.from_container(ctx.client, src_ref, src, dst)
    else:
        assert dst_ref is not None
        copy.to_container(
            ctx.client, dst_ref, src, dst, archive=f.on("archive"), follow=f.on("follow-link")
        )
    return 0


def cmd_export(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("o output value"))
    if len(f.args) != 1:
        raise InvalidArgument('"export" requires exactly 1 argument.')
    out = f.get("output")
    if not out and os.isatty(1):
        raise InvalidArgument(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
        )
    with ctx.client.request("GET", f"/containers/{f.args[0]}/export", stream=True) as r:
        write_stream(r.iter_bytes(), out)
    return 0


def write_stream(pieces: Any, path: str | None) -> None:
    """Body pieces to a file (created) or to stdout."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if path else 1
    try:
        for piece in pieces:
            view = memoryview(piece)
            while view:
                view = view[os.write(fd, view) :]
    finally:
        if path:
            os.close(fd)
