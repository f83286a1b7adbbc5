"""`wharfie compose run`: a one-off container of a service (label oneoff=True), after
starting what it depends on (unless --no-deps); attached like `docker run`."""

from __future__ import annotations

import os
import secrets
import sys

from wharfie.cli.flags import parse, table
from wharfie.errors import InvalidArgument, NotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.compose import Compose
    from wharfie.cli.flags import Parsed

RUN_FLAGS = table(
    """
    d detach bool
    - rm bool
    e env list
    - entrypoint value
    - no-deps bool
    - name value
    T no-TTY bool
    t tty bool
    i interactive bool
    u user value
    w workdir value
    p publish list
    P service-ports bool
    v volume list
    l label list
    - build bool
    - remove-orphans bool
    - use-aliases bool
    - quiet-pull bool
    - pull value
    """
)


def cmd_run(c: Compose, argv: list[str]) -> int:
    from wharfie.compose import convert, plan

    f = parse(argv, RUN_FLAGS, interspersed=False)
    if not f.args:
        raise InvalidArgument('"run" requires SERVICE')
    service, cmd = f.args[0], f.args[1:]
    runner = c.runner([service])
    services = runner.project.services
    if service not in services:
        raise NotFound(f"no such service: {service}")
    svc = _override(dict(services[service]), f, cmd)
    if not f.on("no-deps"):
        deps = plan.with_dependencies(services, [service]) - {service}
        if deps:
            runner.up(plan.UpOptions(services=sorted(deps)), build=f.on("build"))
    runner.ensure_images({service}, f.on("build"), False, lambda _m: None)
    ctx = runner.context()
    runner.ensure_networks(ctx, {service})
    runner.ensure_volumes(ctx, {service})
    if not f.on("no-deps"):
        runner.wait_dependencies(service)
    name = f.get("name") or f"{runner.project.name}-{service}-run-{secrets.token_hex(6)}"
    body = convert.create_body(ctx, service, svc, 1, name, oneoff=True)
    tty = not f.on("no-TTY") and (f.on("tty") or os.isatty(0)) and not f.on("detach")
    body.update(
        {
            "Tty": tty,
            "OpenStdin": not f.on("detach"),
            "StdinOnce": not f.on("detach"),
            "AttachStdin": not f.on("detach"),
            "AttachStdout": not f.on("detach"),
            "AttachStderr": not f.on("detach"),
        }
    )
    body["HostConfig"]["RestartPolicy"] = {"Name": "", "MaximumRetryCount": 0}
    if f.on("rm") and f.on("detach"):
        body["HostConfig"]["AutoRemove"] = True
    cid = runner.create(ctx, service, svc, 1, name, oneoff=True, body=body)
    if f.on("detach"):
        runner.client.request("POST", f"/containers/{cid}/start")
        sys.stdout.write(name + "\n")
        return 0
    try:
        return _attached(c, cid, tty)
    finally:
        if f.on("rm"):
            runner.client.request("DELETE", f"/containers/{cid}", query={"force": True})


def _override(svc: dict[str, Any], f: Parsed, cmd: list[str]) -> dict[str, Any]:
    from wharfie.compose import syntax

    if cmd:
        svc["command"] = cmd
    if f.has("entrypoint"):
        svc["entrypoint"] = syntax.split_command(f.get("entrypoint") or "")
    env = dict(svc.get("environment", {}))
    for item in f.all("env"):
        key, eq, value = item.partition("=")
        if eq:
            env[key] = value
        elif key in os.environ:
            env[key] = os.environ[key]
    svc["environment"] = env
    labels = dict(svc.get("labels", {}))
    for item in f.all("label"):
        key, _, value = item.partition("=")
        labels[key] = value
    svc["labels"] = labels
    for key in ("user", "workdir"):
        if f.get(key):
            svc["user" if key == "user" else "working_dir"] = f.get(key)
    ports = list(svc.get("ports", [])) if f.on("service-ports") else []
    for p in f.all("publish"):
        ports.extend(syntax.parse_port(p))
    svc["ports"] = ports
    if f.all("volume"):
        svc["volumes"] = [
            *svc.get("volumes", []),
            *[syntax.parse_volume(v) for v in f.all("volume")],
        ]
    svc.pop("container_name", None)
    return svc


def _attached(c: Compose, cid: str, tty: bool) -> int:
    from wharfie.cli.flags import Parsed
    from wharfie.cli.run import _attach, _session, _start

    client = c.ctx.client
    stdin = True
    sock = _attach(client, cid, {"stdin": stdin, "stdout": True, "stderr": True})
    waiter = client.request(
        "POST", f"/containers/{cid}/wait", query={"condition": "next-exit"}, stream=True
    )
    try:
        _start(client, cid)
        return _session(c.ctx, cid, sock, waiter, Parsed(), tty, stdin)
    finally:
        waiter.close()
        sock.close()
