"""`wharfie secret|config create|ls|inspect|rm`, with docker's flags and output. The two
kinds differ only in their table columns, pretty view and a few flags."""

from __future__ import annotations

import base64
import sys
import time

from wharfie.cli.flags import arity, parse, table
from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument, WharfieError


class PlainError(WharfieError):
    """A message printed as is, exit status 1."""

    plain = True


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        reason = exc.strerror.lower() if exc.strerror else str(exc)
        raise InvalidArgument(f"error reading content from \"{path}\": open {path}: {reason}"
                              ) from exc  # fmt: skip


def create_body(kind: str, f: Any) -> dict[str, Any]:
    """The SecretSpec/ConfigSpec of `secret|config create [OPTIONS] NAME FILE|-` (pure but
    for reading FILE)."""
    from wharfie.cli.servicespec import kv_map

    name = f.args[0]
    body: dict[str, Any] = {"Name": name, "Labels": kv_map(f.all("label"))}
    driver = f.get("driver") if kind == "secret" else None
    if driver:
        if len(f.args) > 1:
            raise InvalidArgument("when using secret driver secret data must be empty")
        body["Driver"] = {"Name": driver}
    else:
        if len(f.args) != 2:
            raise PlainError(f"{kind} file is required")
        body["Data"] = base64.b64encode(_read(f.args[1])).decode()
    if f.get("template-driver"):
        body["Templating"] = {"Name": f.get("template-driver")}
    return body


def _create(kind: str, ctx: Context, argv: list[str]) -> int:
    extra = "d driver value\n" if kind == "secret" else ""
    f = parse(argv, table(extra + "l label list\n- template-driver value"))
    if kind == "config" and len(f.args) != 2:
        raise arity("config create", "requires 2 arguments")
    if not f.args or len(f.args) > 2:
        raise arity("secret create", "requires at least 1 and at most 2 arguments")
    doc = ctx.client.post_json(f"/{kind}s/create", create_body(kind, f))
    print(doc["ID"])
    return 0


def _ls(kind: str, ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.fmt import render_rows
    from wharfie.cli.swarmfmt import BLOB_HEADERS, CONFIG_FORMAT, SECRET_FORMAT, BlobRow

    f = parse(argv, table("q quiet bool\n- format value\nf filter list"))
    if f.args:
        raise arity(f"{kind} ls", "accepts no arguments")
    found = ctx.client.get_json(f"/{kind}s", {"filters": filters_arg(f.all("filter"))}) or []
    found.sort(key=lambda b: (b.get("Spec") or {}).get("Name") or "")
    if f.on("quiet") and not f.has("format"):
        sys.stdout.write("".join(b["ID"] + "\n" for b in found))
        return 0
    fmt = f.get("format") or (SECRET_FORMAT if kind == "secret" else CONFIG_FORMAT)
    now = time.time()
    sys.stdout.write(render_rows([BlobRow(b, now) for b in found], fmt, BLOB_HEADERS))
    return 0


def _inspect(kind: str, ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import write_inspect
    from wharfie.cli.swarmfmt import config_pretty, secret_pretty

    f = parse(argv, table("f format value\n- pretty bool"))
    if not f.args:
        raise arity(f"{kind} inspect", "requires at least 1 argument")
    if f.on("pretty") and f.get("format"):
        raise InvalidArgument("--format is incompatible with human friendly format")
    found = []
    failed = ""
    for ref in f.args:
        try:
            found.append(ctx.client.get_json(f"/{kind}s/{ref}"))
        except APIError as exc:
            if exc.status != 404:
                raise
            failed = exc.message
            break
    if f.on("pretty"):
        view = secret_pretty if kind == "secret" else config_pretty
        sys.stdout.write("".join(view(b) + "\n" for b in found))
    else:
        write_inspect(found, f.get("format"))
    if failed:
        sys.stderr.write(f"Error response from daemon: {failed}\n")
        return 1
    return 0


def rm_swarm_objects(kind: str, ctx: Context, argv: list[str]) -> int:
    """`<kind> rm REF...`: each removed one printed, the refusals after, as docker does."""
    f = parse(argv, table(""))
    if not f.args:
        raise arity(f"{kind} rm", "requires at least 1 argument")
    failed = []
    for ref in f.args:
        try:
            ctx.client.delete(f"/{kind}s/{ref}")
        except APIError as exc:
            failed.append(exc.message)
            continue
        print(ref)
    if failed:
        sys.stderr.write("".join(f"Error response from daemon: {m}\n" for m in failed))
        return 1
    return 0


def cmd_secret_create(ctx: Context, argv: list[str]) -> int:
    return _create("secret", ctx, argv)


def cmd_secret_ls(ctx: Context, argv: list[str]) -> int:
    return _ls("secret", ctx, argv)


def cmd_secret_inspect(ctx: Context, argv: list[str]) -> int:
    return _inspect("secret", ctx, argv)


def cmd_secret_rm(ctx: Context, argv: list[str]) -> int:
    return rm_swarm_objects("secret", ctx, argv)


def cmd_config_create(ctx: Context, argv: list[str]) -> int:
    return _create("config", ctx, argv)


def cmd_config_ls(ctx: Context, argv: list[str]) -> int:
    return _ls("config", ctx, argv)


def cmd_config_inspect(ctx: Context, argv: list[str]) -> int:
    return _inspect("config", ctx, argv)


def cmd_config_rm(ctx: Context, argv: list[str]) -> int:
    return rm_swarm_objects("config", ctx, argv)
