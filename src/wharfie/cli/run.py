"""run, create, start, attach, exec: the commands with a hijacked stream.

`run` without -d follows docker's order (notes §3.4): create, attach
(before start, so no output is lost), wait (next-exit, or removed with
--rm), start, resize, stream; the exit status is the wait's StatusCode.
"""

from __future__ import annotations

import os
import sys

from wharfie.cli.flags import parse, table
from wharfie.client.api import APIError
from wharfie.errors import FailedPrecondition, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context
    from wharfie.cli.flags import Parsed
    from wharfie.client.api import Client, HijackedSocket, Response


def start_error_status(message: str) -> int:
    """docker's toStatusError: 126 permission denied, 127 not found, else 125."""
    if "executable file not found" in message or "no such file or directory" in message:
        return 127
    if "permission denied" in message:
        return 126
    return 125


def split_ref(ref: str) -> tuple[str, str]:
    """("busybox", "latest") from "busybox"; digests and registry ports kept in the name."""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return name, "@" + digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, "latest"


def full_name(name: str) -> str:
    """docker.io/library/x for x, docker.io/u/x for u/x; a registry host stays."""
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return name
    if "/" not in name:
        return f"docker.io/library/{name}"
    return f"docker.io/{name}"


def pull(client: Client, ref: str, quiet: bool = False) -> None:
    """POST /images/create?fromImage=...; progress to stderr-less stdout like docker."""
    name, tag = split_ref(ref)
    query: dict[str, Any] = {"fromImage": full_name(name)}
    if tag.startswith("@"):
        query["fromImage"] += tag
    else:
        query["tag"] = tag
    from wharfie.cli.auth import registry_auth_header  # the stored login for that registry

    headers = {"X-Registry-Auth": registry_auth_header(ref)}
    for msg in client.stream_lines("POST", "/images/create", query=query, headers=headers):
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise APIError(500, str(msg.get("error") or detail.get("message")))
        if not quiet and msg.get("status"):
            prefix = f"{msg['id']}: " if msg.get("id") else ""
            sys.stdout.write(f"{prefix}{msg['status']}\n")
    sys.stdout.flush()


def create_container(ctx: Context, f: Parsed, body: dict[str, Any], image: str) -> str:
    """POST /containers/create; on 404 pull the image (as docker does) and retry."""
    client = ctx.client
    query = {"name": f.get("name"), "platform": f.get("platform")}
    policy = f.get("pull") or "missing"
    if policy == "always":
        pull(client, image, quiet=f.on("quiet"))
    try:
        resp = client.post_json("/containers/create", body, query)
    except APIError as exc:
        if exc.status != 404 or policy == "never":
            raise
        name, tag = split_ref(image)
        sep = "" if tag.startswith("@") else ":"
        sys.stderr.write(f"Unable to find image '{name}{sep}{tag}' locally\n")
        sys.stderr.flush()
        pull(client, image, quiet=f.on("quiet"))
        resp = client.post_json("/containers/create", body, query)
    for warning in resp.get("Warnings") or []:
        sys.stderr.write(f"WARNING: {warning}\n")
    cid: str = resp["Id"]
    cidfile = f.get("cidfile")
    if cidfile:
        with open(cidfile, "x", encoding="utf-8") as out:
            out.write(cid)
    return cid


def _prepare(ctx: Context, argv: list[str], verb: str) -> tuple[Parsed, dict[str, Any], str]:
    from wharfie.cli.createbody import RUN_FLAGS, build
    from wharfie.cli.stream import terminal_size

    f = parse(argv, RUN_FLAGS, interspersed=False)
    if not f.args:
        raise InvalidArgument(f'"{verb}" requires at least 1 argument.')
    image = f.args[0]
    tty = f.on("tty")
    if tty and f.on("interactive") and not f.on("detach") and not os.isatty(0):
        raise NotATTY("the input device is not a TTY")
    console = terminal_size(1) if tty else (0, 0)
    body = build(f, image, f.args[1:], os.environ, console)
    return f, body, image


def cmd_create(ctx: Context, argv: list[str]) -> int:
    f, body, image = _prepare(ctx, argv, "create")
    print(create_container(ctx, f, body, image))
    return 0


def cmd_run(ctx: Context, argv: list[str]) -> int:
    f, body, image = _prepare(ctx, argv, "run")
    cid = create_container(ctx, f, body, image)
    client = ctx.client
    if f.on("detach"):
        _start(client, cid)
        print(cid)
        return 0
    streams = {"stdin": f.on("interactive"), "stdout": body["AttachStdout"]}
    streams["stderr"] = body["AttachStderr"]
    sock = _attach(client, cid, streams)
    condition = "removed" if f.on("rm") else "next-exit"
    waiter = client.request(
        "POST", f"/containers/{cid}/wait", query={"condition": condition}, stream=True
    )
    try:
        _start(client, cid)
        return _session(ctx, cid, sock, waiter, f, body["Tty"], f.on("interactive"))
    finally:
        waiter.close()
        sock.close()


def _attach(client: Client, cid: str, streams: dict[str, bool]) -> HijackedSocket:
    query: dict[str, Any] = {k: True for k, on in sorted(streams.items()) if on}
    query["stream"] = True
    return client.hijack("POST", f"/containers/{cid}/attach", query=query)


def _start(client: Client, cid: str) -> None:
    try:
        client.request("POST", f"/containers/{cid}/start")
    except APIError as exc:
        raise StartError(exc.status, exc.message) from exc


class NotATTY(FailedPrecondition):
    """-t with -i while stdin is not a terminal: docker prints the bare message, exit 1."""

    plain = True


class StartError(APIError):
    """A failed start: `run` exits 125, 126 or 127 depending on the message."""

    start_failure = True


def _session(
    ctx: Context,
    cid: str,
    sock: HijackedSocket,
    waiter: Response,
    f: Parsed,
    tty: bool,
    stdin: bool,
) -> int:
    from wharfie.cli.stream import RawTerminal, install_resize, install_sig_proxy, pump

    client = ctx.client
    if tty and os.isatty(1):
        install_resize(lambda h, w: _resize(client, f"/containers/{cid}/resize", h, w))
    if not tty and f.on("sig-proxy", True):
        install_sig_proxy(lambda sig: _kill(client, cid, sig))
    with RawTerminal(0, tty and stdin):
        detached = pump(sock, tty=tty, stdin=stdin, detach_keys=f.get("detach-keys"))
    if detached:
        return 0
    return _wait_status(waiter)


def _wait_status(waiter: Response) -> int:
    doc = waiter.json() or {}
    err = (doc.get("Error") or {}).get("Message")
    if err:
        sys.stderr.write(f"wharfie: {err}\n")
    return int(doc.get("StatusCode", 0))


def _resize(client: Client, path: str, h: int, w: int) -> None:
    try:
        client.request("POST", path, query={"h": h, "w": w})
    except APIError:
        pass  # like docker: a failed resize (process already gone) is not fatal


def _kill(client: Client, cid: str, sig: int) -> None:
    try:
        client.request("POST", f"/containers/{cid}/kill", query={"signal": str(sig)})
    except APIError:
        pass  # the container already exited: nothing to forward to


START_FLAGS = table(
    """
    a attach bool
    i interactive bool
    - detach-keys value
    - checkpoint value
    """
)


def cmd_start(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, START_FLAGS)
    if not f.args:
        raise InvalidArgument('"start" requires at least 1 argument.')
    client = ctx.client
    if f.on("attach") or f.on("interactive"):
        if len(f.args) > 1:
            raise InvalidArgument("you cannot start and attach multiple containers at once")
        info = client.get_json(f"/containers/{f.args[0]}/json")
        cid, tty = info["Id"], info["Config"]["Tty"]
        stdin = f.on("interactive") and info["Config"]["OpenStdin"]
        sock = _attach(client, cid, {"stdin": stdin, "stdout": True, "stderr": True})
        waiter = client.request(
            "POST", f"/containers/{cid}/wait", query={"condition": "next-exit"}, stream=True
        )
        try:
            _start(client, cid)
            return _session(ctx, cid, sock, waiter, f, tty, stdin)
        finally:
            waiter.close()
            sock.close()
    failed = 0
    for ref in f.args:
        try:
            client.request("POST", f"/containers/{ref}/start")
            print(ref)
        except APIError as exc:
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
            failed += 1
    if failed:
        sys.stderr.write("Error: failed to start containers: " + ", ".join(f.args) + "\n")
    return 1 if failed else 0


ATTACH_FLAGS = table(
    """
    - no-stdin bool
    - sig-proxy bool
    - detach-keys value
    """
)


def cmd_attach(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, ATTACH_FLAGS)
    if len(f.args) != 1:
        raise InvalidArgument('"attach" requires exactly 1 argument.')
    client = ctx.client
    ref = f.args[0]
    waiter = client.request("POST", f"/containers/{ref}/wait", stream=True)
    try:
        info = client.get_json(f"/containers/{ref}/json")
        state = info.get("State") or {}
        if not state.get("Running"):
            raise InvalidArgument("You cannot attach to a stopped container, start it first")
        if state.get("Paused"):
            raise InvalidArgument("You cannot attach to a paused container, unpause it first")
        cid, tty = info["Id"], info["Config"]["Tty"]
        stdin = info["Config"]["OpenStdin"] and not f.on("no-stdin")
        with _attach(client, cid, {"stdin": stdin, "stdout": True, "stderr": True}) as sock:
            return _session(ctx, cid, sock, waiter, f, tty, stdin)
    finally:
        waiter.close()


EXEC_FLAGS = table(
    """
    d detach bool
    i interactive bool
    t tty bool
    u user value
    e env list
    - env-file list
    w workdir value
    - privileged bool
    - detach-keys value
    """
)


def cmd_exec(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.createbody import env_list, read_env_file
    from wharfie.cli.stream import RawTerminal, install_resize, pump, terminal_size

    f = parse(argv, EXEC_FLAGS, interspersed=False)
    if len(f.args) < 2:
        raise InvalidArgument('"exec" requires at least 2 arguments.')
    ref, cmd = f.args[0], f.args[1:]
    tty, stdin, detach = f.on("tty"), f.on("interactive"), f.on("detach")
    if tty and stdin and not detach and not os.isatty(0):
        raise NotATTY("the input device is not a TTY")
    env: list[str] = []
    for path in f.all("env-file"):
        env.extend(read_env_file(path, os.environ))
    env.extend(env_list(f.all("env"), os.environ))
    console = list(terminal_size(1)) if tty else [0, 0]
    client = ctx.client
    client.get_json(f"/containers/{ref}/json")
    body = {
        "User": f.get("user") or "",
        "Privileged": f.on("privileged"),
        "Tty": tty,
        "ConsoleSize": console,
        "AttachStdin": stdin and not detach,
        "AttachStderr": not detach,
        "AttachStdout": not detach,
        "Detach": detach,
        "DetachKeys": f.get("detach-keys") or "",
        "Env": env or None,
        "WorkingDir": f.get("workdir") or "",
        "Cmd": cmd,
    }
    eid = client.post_json(f"/containers/{ref}/exec", body)["Id"]
    if detach:
        client.request("POST", f"/exec/{eid}/start", body={"Detach": True, "Tty": False})
        return 0
    start = {"Detach": False, "Tty": tty, "ConsoleSize": console}
    with client.hijack("POST", f"/exec/{eid}/start", body=start) as sock:
        if tty and os.isatty(1):
            install_resize(lambda h, w: _resize(client, f"/exec/{eid}/resize", h, w))
        with RawTerminal(0, tty and stdin):
            detached = pump(sock, tty=tty, stdin=stdin, detach_keys=f.get("detach-keys"))
    if detached:
        return 0
    info = client.get_json(f"/exec/{eid}/json")
    return int(info.get("ExitCode") or 0)
