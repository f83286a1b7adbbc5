"""pull, push, save, load: Docker's JSON progress stream rendered as docker does.

On a terminal each layer has a line redrawn in place (progress bars); otherwise only
status changes are printed, one line each (no bars), as docker's non-TTY output.
"""

from __future__ import annotations

import os
import sys

from wharfie.cli.auth import registry_auth_header
from wharfie.cli.flags import parse, table
from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any, TextIO

    from wharfie.cli.context import Context
    from wharfie.client.api import Client

_MOVING = ("Downloading", "Extracting", "Pushing", "Verifying Checksum", "Waiting")


class Renderer:
    """Writes progress messages to `out`; raises APIError on an error message."""

    def __init__(self, out: TextIO, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.lines: list[str] = []  # ids, in order of first appearance (tty)
        self.last: dict[str, str] = {}

    def feed(self, msg: dict[str, Any]) -> None:
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise APIError(500, str(msg.get("error") or detail.get("message")))
        status = msg.get("status")
        if not status:
            return
        ident = str(msg.get("id") or "")
        if not ident:
            self._plain(str(status))
            return
        text = f"{ident}: {status}"
        if self.tty:
            progress = msg.get("progress")
            self._redraw(ident, f"{text} {progress}" if progress else text)
        elif status not in _MOVING and self.last.get(ident) != status:
            self._plain(text)
        self.last[ident] = str(status)

    def _plain(self, text: str) -> None:
        self.out.write(text + "\n")
        if self.tty:
            self.lines.append("")
        self.out.flush()

    def _redraw(self, ident: str, text: str) -> None:
        if ident not in self.lines:
            self.lines.append(ident)
            self.out.write(text + "\n")
        else:
            up = len(self.lines) - self.lines.index(ident)
            self.out.write(f"\x1b[{up}A\x1b[2K\r{text}\x1b[{up}B\r")
        self.out.flush()


def run_stream(
    client: Client,
    method: str,
    path: str,
    query: dict[str, Any],
    headers: dict[str, str],
    quiet: bool = False,
) -> None:
    out = sys.stdout
    r = Renderer(out, out.isatty() and not quiet)
    for msg in client.stream_lines(method, path, query=query, headers=headers):
        if quiet:
            if msg.get("error") or msg.get("errorDetail"):
                r.feed(msg)
            continue
        r.feed(msg)


def split_name(ref: str) -> tuple[str, str]:
    """("host:5000/x", "v1") / ("x", "@sha256:…") / ("x", "")."""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return name, "@" + digest
    slash, colon = ref.rfind("/"), ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, ""


def pull(
    client: Client, ref: str, *, quiet: bool = False, platform: str = "", all_tags: bool = False
) -> None:
    name, tag = split_name(ref)
    if all_tags and tag:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    query: dict[str, Any] = {"fromImage": name, "platform": platform or None}
    if tag.startswith("@"):
        query["fromImage"] = name + tag
    elif not all_tags:
        query["tag"] = tag or "latest"
        if not tag and not quiet:
            print("Using default tag: latest")
    headers = {"X-Registry-Auth": registry_auth_header(ref)}
    run_stream(client, "POST", "/images/create", query, headers, quiet)
    if quiet:
        shown = f"{name}{tag}" if tag.startswith("@") else f"{name}:{tag or 'latest'}"
        print(_full(shown))


def _full(ref: str) -> str:
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if "/" in ref else f"docker.io/library/{ref}"


def cmd_pull(ctx: Context, argv: list[str]) -> int:
    f = parse(
        argv, table("q quiet bool\na all-tags bool\n- platform value\n- disable-content-trust bool")
    )
    if len(f.args) != 1:
        raise InvalidArgument('"pull" requires exactly 1 argument.')
    pull(
        ctx.client,
        f.args[0],
        quiet=f.on("quiet"),
        platform=f.get("platform") or "",
        all_tags=f.on("all-tags"),
    )
    return 0


def cmd_push(ctx: Context, argv: list[str]) -> int:
    f = parse(
        argv, table("q quiet bool\na all-tags bool\n- platform value\n- disable-content-trust bool")
    )
    if len(f.args) != 1:
        raise InvalidArgument('"push" requires exactly 1 argument.')
    name, tag = split_name(f.args[0])
    if tag.startswith("@"):
        raise InvalidArgument("cannot push a digest reference")
    if f.on("all-tags") and tag:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    if not tag and not f.on("all-tags"):
        tag = "latest"
        if not f.on("quiet"):
            print("Using default tag: latest")
    headers = {"X-Registry-Auth": registry_auth_header(name)}
    run_stream(
        ctx.client, "POST", f"/images/{name}/push", {"tag": tag or None}, headers, f.on("quiet")
    )
    if f.on("quiet"):
        print(_full(f"{name}:{tag}" if tag else name))
    return 0


def cmd_save(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("o output value\n- platform value"))
    if not f.args:
        raise InvalidArgument('"save" requires at least 1 argument.')
    output = f.get("output") or ""
    if not output and sys.stdout.isatty():
        raise InvalidArgument(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
        )
    resp = ctx.client.request("GET", "/images/get", query={"names": f.args}, stream=True)
    try:
        if output:
            tmp = output + ".wharfie-tmp"
            with open(tmp, "wb") as out:
                _copy(resp.iter_bytes(), out.fileno())
            os.rename(tmp, output)
        else:
            _copy(resp.iter_bytes(), 1)
    finally:
        resp.close()
    return 0


def _copy(chunks: Iterator[bytes], fd: int) -> None:
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


def cmd_load(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("i input value\nq quiet bool\n- platform value"))
    src = f.get("input") or ""
    if not src and sys.stdin.isatty():
        raise InvalidArgument("requested load from stdin, but stdin is empty")
    fd = os.open(src, os.O_RDONLY) if src else 0
    body: Iterable[bytes] = iter(lambda: os.read(fd, 1 << 20), b"")
    query = {"quiet": "1" if f.on("quiet") else None}
    for msg in ctx.client.stream_lines(
        "POST",
        "/images/load",
        query=query,
        body=body,
        headers={"Content-Type": "application/x-tar"},
    ):
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise APIError(500, str(msg.get("error") or detail.get("message")))
        if msg.get("stream"):
            sys.stdout.write(str(msg["stream"]))
    sys.stdout.flush()
    return 0
