"""`wharfie compose` verbs on existing containers: ps, logs, start, stop, restart, kill,
rm, pause, unpause, top, port, images, exec, and the image verbs build, pull, push."""

from __future__ import annotations

import os
import sys
import time

from wharfie.cli.compose import table_text
from wharfie.cli.flags import parse, table
from wharfie.compose import plan
from wharfie.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from wharfie.cli.compose import Compose
    from wharfie.compose.apply import Runner


def _service(c: dict[str, Any]) -> str:
    return str((c.get("Labels") or {}).get(plan.SERVICE, ""))


def _name(c: dict[str, Any]) -> str:
    return str((c.get("Names") or [""])[0]).lstrip("/")


def select(
    runner: Runner, services: list[str], all: bool = True, oneoff: bool | None = False
) -> list[dict[str, Any]]:
    known = set(runner.project.services) | set(runner.project.disabled)
    for s in services:
        if s not in known:
            raise NotFound(f"no such service: {s}")
    rows = runner.containers(oneoff=oneoff, all=all)
    if services:
        rows = [c for c in rows if _service(c) in services]
    return sorted(rows, key=lambda c: (_service(c), _name(c)))


def _ports(c: dict[str, Any]) -> str:
    out = []
    for p in sorted(c.get("Ports") or [], key=lambda p: (p.get("PrivatePort", 0), p.get("IP", ""))):
        proto = p.get("Type", "tcp")
        if p.get("PublicPort"):
            out.append(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}->{p['PrivatePort']}/{proto}")
        else:
            out.append(f"{p['PrivatePort']}/{proto}")
    return ", ".join(out)


PS_FLAGS = table(
    """
    a all bool
    q quiet bool
    - services bool
    - format value
    - status list
    - filter list
    - no-trunc bool
    - orphans bool
    """
)


def cmd_ps(c: Compose, argv: list[str]) -> int:
    f = parse(argv, PS_FLAGS)
    rows = select(c.runner(), f.args, all=f.on("all") or bool(f.all("status")))
    if f.all("status"):
        rows = [r for r in rows if r.get("State") in f.all("status")]
    if f.on("services"):
        sys.stdout.write("".join(s + "\n" for s in sorted({_service(r) for r in rows})))
        return 0
    if f.on("quiet"):
        sys.stdout.write("".join(r["Id"] + "\n" for r in rows))
        return 0
    if f.get("format") == "json":
        from wharfie.oci import jsonio

        docs = [
            {
                "ID": r["Id"],
                "Name": _name(r),
                "Image": r.get("Image"),
                "Command": r.get("Command"),
                "Project": c.project().name,
                "Service": _service(r),
                "State": r.get("State"),
                "Status": r.get("Status"),
                "Labels": r.get("Labels"),
                "Publishers": r.get("Ports"),
            }
            for r in rows
        ]
        sys.stdout.write(jsonio.dumps(docs) + "\n")
        return 0
    body = [
        [
            _name(r),
            str(r.get("Image", "")),
            _command(r),
            _service(r),
            _ago(r),
            str(r.get("Status", "")),
            _ports(r),
        ]
        for r in rows
    ]
    sys.stdout.write(
        table_text(["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"], body)
    )
    return 0


def _command(r: dict[str, Any]) -> str:
    cmd = str(r.get("Command", ""))
    return f'"{cmd[:20]}…"' if len(cmd) > 20 else f'"{cmd}"'


def _ago(r: dict[str, Any]) -> str:
    seconds = max(0, int(time.time()) - int(r.get("Created", 0)))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n > 1 else ''} ago"
    return f"{seconds} seconds ago"


LOGS_FLAGS = table(
    """
    f follow bool
    n tail value
    t timestamps bool
    - no-color bool
    - no-log-prefix bool
    - since value
    - until value
    - index value
    """
)


def cmd_logs(c: Compose, argv: list[str]) -> int:
    from wharfie.cli.compose_logs import Printer, follow, short_name

    f = parse(argv, LOGS_FLAGS)
    runner = c.runner()
    rows = select(runner, f.args, oneoff=None)
    names = [short_name(r, runner.project.name) for r in rows]
    printer = Printer(names, os.isatty(1) and not f.on("no-color"), not f.on("no-log-prefix"))
    query = {
        "stdout": True,
        "stderr": True,
        "follow": f.on("follow") or None,
        "tail": f.get("tail") or "all",
        "timestamps": f.on("timestamps") or None,
        "since": f.get("since"),
        "until": f.get("until"),
    }
    threads = follow(runner, rows, printer, query)
    try:
        for t in threads.values():
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        return 130
    return 0


def _each(
    c: Compose,
    argv: list[str],
    spec: str,
    verb: str,
    action: Callable[[Runner, dict[str, Any], Any], None],
    running: bool = False,
    reverse: bool = False,
    status: str = "",
) -> int:
    f = parse(argv, table(spec))
    runner = c.runner()
    rows = select(runner, f.args, all=not running)
    if reverse:
        order = [
            c2["Id"] for group in plan.down_order(runner.project.services, rows) for c2 in group
        ]
        rows.sort(key=lambda r: order.index(r["Id"]) if r["Id"] in order else -1)
    else:
        order = [s for lv in plan.levels(runner.project.services) for s in lv]
        rows.sort(key=lambda r: order.index(_service(r)) if _service(r) in order else -1)
    for r in rows:
        action(runner, r, f)
        runner.progress("Container", _name(r), status or verb)
    return 0


def cmd_start(c: Compose, argv: list[str]) -> int:
    def act(runner: Runner, r: dict[str, Any], f: Any) -> None:
        runner.wait_dependencies(_service(r))
        runner.client.request("POST", f"/containers/{r['Id']}/start")

    return _each(c, argv, "- wait bool", "start", act, status="Started")


def cmd_stop(c: Compose, argv: list[str]) -> int:
    def act(runner: Runner, r: dict[str, Any], f: Any) -> None:
        runner.client.request("POST", f"/containers/{r['Id']}/stop", query={"t": f.get("timeout")})

    return _each(c, argv, "t timeout value", "stop", act, reverse=True, status="Stopped")


RESTART_SPEC = "t timeout value\n- no-deps bool"


def cmd_restart(c: Compose, argv: list[str]) -> int:
    def act(runner: Runner, r: dict[str, Any], f: Any) -> None:
        runner.client.request(
            "POST", f"/containers/{r['Id']}/restart", query={"t": f.get("timeout")}
        )

    f = parse(argv, table(RESTART_SPEC))
    if f.args and not f.on("no-deps"):  # dependents with `restart: true` come along
        extra = plan.restart_with(c.project().services, f.args) - set(f.args)
        argv = [*argv, *sorted(extra)]
    return _each(c, argv, RESTART_SPEC, "restart", act, status="Started")


def cmd_kill(c: Compose, argv: list[str]) -> int:
    def act(runner: Runner, r: dict[str, Any], f: Any) -> None:
        runner.client.request(
            "POST", f"/containers/{r['Id']}/kill", query={"signal": f.get("signal") or "SIGKILL"}
        )

    return _each(
        c,
        argv,
        "s signal value\n- remove-orphans bool",
        "kill",
        act,
        running=True,
        reverse=True,
        status="Killed",
    )


def cmd_pause(c: Compose, argv: list[str]) -> int:
    def act(runner: Runner, r: dict[str, Any], f: Any) -> None:
        runner.client.request("POST", f"/containers/{r['Id']}/pause")

    return _each(c, argv, "", "pause", act, running=True, status="Paused")


def cmd_unpause(c: Compose, argv: list[str]) -> int:
    def act(runner: Runner, r: dict[str, Any], f: Any) -> None:
        runner.client.request("POST", f"/containers/{r['Id']}/unpause")

    return _each(c, argv, "", "unpause", act, running=True, status="Unpaused")


RM_FLAGS = table(
    """
    f force bool
    s stop bool
    v volumes bool
    a all bool
    """
)


def cmd_rm(c: Compose, argv: list[str]) -> int:
    f = parse(argv, RM_FLAGS)
    runner = c.runner()
    rows = select(runner, f.args)
    if f.on("stop"):
        runner.client.request_each(
            "POST", [f"/containers/{r['Id']}/stop" for r in rows if r.get("State") == "running"]
        )
        rows = select(runner, f.args)
    gone = [r for r in rows if r.get("State") != "running"]
    if not gone:
        sys.stderr.write("No stopped containers\n")
        return 0
    if not f.on("force"):
        sys.stderr.write("Going to remove " + ", ".join(_name(r) for r in gone) + "\n")
    for r in gone:
        runner.client.request(
            "DELETE", f"/containers/{r['Id']}", query={"v": f.on("volumes") or None}
        )
        runner.progress("Container", _name(r), "Removed")
    return 0


def cmd_top(c: Compose, argv: list[str]) -> int:
    runner = c.runner()
    for r in select(runner, parse(argv, table("")).args, all=False):
        doc = runner.client.get_json(f"/containers/{r['Id']}/top")
        sys.stdout.write(f"{_name(r)}\n")
        sys.stdout.write(
            table_text(list(doc.get("Titles") or []), [list(p) for p in doc.get("Processes") or []])
            + "\n"
        )
    return 0


def cmd_port(c: Compose, argv: list[str]) -> int:
    f = parse(argv, table("- protocol value\n- index value"))
    if len(f.args) != 2:
        raise InvalidArgument('"port" requires SERVICE and PRIVATE_PORT')
    service, port = f.args
    proto = f.get("protocol") or "tcp"
    index = int(f.get("index") or 1)
    runner = c.runner()
    rows = [
        r
        for r in select(runner, [service])
        if (r.get("Labels") or {}).get(plan.NUMBER) == str(index)
    ]
    if not rows:
        raise NotFound(f"service {service}: no container with index {index}")
    for p in rows[0].get("Ports") or []:
        if (
            str(p.get("PrivatePort")) == port
            and p.get("Type", "tcp") == proto
            and p.get("PublicPort")
        ):
            sys.stdout.write(f"{p.get('IP') or '0.0.0.0'}:{p['PublicPort']}\n")
            return 0
    raise NotFound(f"no port {port}/{proto} for container {_name(rows[0])}")


def cmd_images(c: Compose, argv: list[str]) -> int:
    f = parse(argv, table("q quiet bool\n- format value"))
    runner = c.runner()
    rows = []
    for r in select(runner, f.args):
        doc = runner.client.get_json(f"/images/{r['ImageID']}/json")
        repo, _, tag = (str(r.get("Image", "")) + ":").partition(":")
        tag = tag.rstrip(":") or "latest"
        size = f"{doc.get('Size', 0) / 1e6:.3g}MB"
        rows.append([_name(r), repo, tag, str(doc["Id"]).removeprefix("sha256:")[:12], size])
    if f.on("quiet"):
        sys.stdout.write("".join(sorted({row[3] + "\n" for row in rows})))
        return 0
    sys.stdout.write(table_text(["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"], rows))
    return 0


EXEC_FLAGS = table(
    """
    d detach bool
    T no-TTY bool
    t tty bool
    i interactive bool
    e env list
    w workdir value
    u user value
    - index value
    - privileged bool
    """
)


def cmd_exec(c: Compose, argv: list[str]) -> int:
    from wharfie.cli.run import cmd_exec as docker_exec

    f = parse(argv, EXEC_FLAGS, interspersed=False)
    if len(f.args) < 2:
        raise InvalidArgument('"exec" requires SERVICE and COMMAND')
    service, cmd = f.args[0], f.args[1:]
    index = str(f.get("index") or 1)
    runner = c.runner()
    rows = [
        r
        for r in select(runner, [service], all=False)
        if (r.get("Labels") or {}).get(plan.NUMBER) == index
    ]
    if not rows:
        raise NotFound(f'service "{service}" is not running')
    args = ["-d"] if f.on("detach") else ["-i"]
    if not f.on("detach") and not f.on("no-TTY") and os.isatty(0):
        args.append("-t")
    for e in f.all("env"):
        args += ["-e", e]
    for key in ("workdir", "user"):
        if f.get(key):
            args += [f"--{key}", f.get(key) or ""]
    if f.on("privileged"):
        args.append("--privileged")
    return docker_exec(c.ctx, [*args, rows[0]["Id"], *cmd])


def _image_services(c: Compose, names: list[str]) -> list[tuple[str, dict[str, Any]]]:
    services = c.project().services
    for n in names:
        if n not in services:
            raise NotFound(f"no such service: {n}")
    return [(n, s) for n, s in sorted(services.items()) if not names or n in names]


def cmd_build(c: Compose, argv: list[str]) -> int:
    from wharfie.compose import resources

    f = parse(argv, table("- no-cache bool\n- pull bool\nq quiet bool\n- build-arg list"))
    client = c.ctx.client
    quiet = f.on("quiet")

    def log(line: str) -> None:
        if not quiet:
            sys.stderr.write(line + "\n")

    for name, svc in _image_services(c, f.args):
        if "build" not in svc:
            continue
        for arg in f.all("build-arg"):
            k, _, v = arg.partition("=")
            svc["build"]["args"][k] = v
        resources.build(client, name, svc, log, f.on("no-cache"), f.on("pull"))
        c.runner().progress("Service", name, "Built")
    return 0


def cmd_pull(c: Compose, argv: list[str]) -> int:
    from wharfie.compose import resources

    f = parse(argv, table("q quiet bool\n- ignore-pull-failures bool\n- include-deps bool"))
    client = c.ctx.client
    failed = 0
    for name, svc in _image_services(c, f.args):
        if "build" in svc and svc["image"] == f"{c.project().name}-{name}":
            continue
        try:
            resources.pull(client, svc["image"], lambda _m: None)
            if not f.on("quiet"):
                sys.stderr.write(f" {name} Pulled\n")
        except Exception as exc:
            if not f.on("ignore-pull-failures"):
                raise
            sys.stderr.write(f" {name} Error: {exc}\n")
            failed += 1
    return 0


def cmd_push(c: Compose, argv: list[str]) -> int:
    from wharfie.compose.resources import split_ref

    f = parse(argv, table("q quiet bool\n- ignore-push-failures bool"))
    client = c.ctx.client
    for name, svc in _image_services(c, f.args):
        if "build" not in svc:
            continue
        repo, tag = split_ref(svc["image"])
        for msg in client.stream_lines(
            "POST", f"/images/{repo}/push", query={"tag": tag}, headers={"X-Registry-Auth": "e30="}
        ):
            if msg.get("error"):
                if f.on("ignore-push-failures"):
                    break
                raise InvalidArgument(f"pushing {svc['image']}: {msg['error']}")
        if not f.on("quiet"):
            sys.stderr.write(f" {name} Pushed\n")
    return 0
