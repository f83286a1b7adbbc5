"""Image commands: images, tag, rmi, history, pull, commit, import, bootstrap."""

from __future__ import annotations

import os
import sys

from wharfie.cli.flags import parse, table
from wharfie.client.api import APIError
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from wharfie.cli.context import Context
    from wharfie.client.api import Client

IMAGES_FORMAT = "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}"

IMAGES_FLAGS = table(
    """
    a all bool
    q quiet bool
    - no-trunc bool
    - digests bool
    - format value
    f filter list
    """
)


def cmd_images(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.fmt import IMAGE_HEADERS, ImageRow, render_rows

    f = parse(argv, IMAGES_FLAGS)
    filters = filters_arg(f.all("filter")) or {}
    if f.args:
        filters.setdefault("reference", {})[f.args[0]] = True
    query: dict[str, Any] = {"all": f.on("all") or None, "filters": filters or None}
    images = ctx.client.get_json("/images/json", query)
    images.sort(key=lambda i: -(i.get("Created") or 0))
    trunc = not f.on("no-trunc")
    if f.on("quiet") and not f.has("format"):
        seen: list[str] = []
        for img in images:
            iid = img["Id"].removeprefix("sha256:")[:12] if trunc else img["Id"]
            if iid not in seen:
                seen.append(iid)
        sys.stdout.write("".join(i + "\n" for i in seen))
        return 0
    rows = []
    for img in images:
        for ref in img.get("RepoTags") or [None]:
            rows.append(ImageRow(img, ref if ref != "<none>:<none>" else None, trunc))
    fmt = f.get("format") or IMAGES_FORMAT
    if f.on("digests") and not f.has("format"):
        fmt = fmt.replace("{{.Tag}}", "{{.Tag}}\\t{{.Digest}}")
    sys.stdout.write(render_rows(rows, fmt, IMAGE_HEADERS))
    return 0


def cmd_image_inspect(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import cmd_inspect

    return cmd_inspect(ctx, argv, "image")


def cmd_tag(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.run import split_ref

    f = parse(argv, {})
    if len(f.args) != 2:
        raise InvalidArgument('"tag" requires exactly 2 arguments.')
    repo, tag = split_ref(f.args[1])
    ctx.client.request("POST", f"/images/{f.args[0]}/tag", query={"repo": repo, "tag": tag})
    return 0


def cmd_rmi(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("f force bool\n- no-prune bool"))
    if not f.args:
        raise InvalidArgument('"rmi" requires at least 1 argument.')
    query = {"force": f.on("force") or None, "noprune": f.on("no-prune") or None}
    failed = False
    for ref in f.args:
        try:
            items = ctx.client.delete(f"/images/{ref}", query) or []
        except APIError as exc:
            sys.stderr.write(f"Error response from daemon: {exc.message}\n")
            failed = True
            continue
        for item in items:
            if item.get("Untagged"):
                print(f"Untagged: {item['Untagged']}")
            if item.get("Deleted"):
                print(f"Deleted: {item['Deleted']}")
    return 1 if failed else 0


def cmd_history(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.fmt import ellipsis, render_rows
    from wharfie.cli.units import ago, human_size

    f = parse(argv, table("H human bool\nq quiet bool\n- no-trunc bool\n- format value"))
    if len(f.args) != 1:
        raise InvalidArgument('"history" requires exactly 1 argument.')
    trunc = not f.on("no-trunc")

    class Row:
        def __init__(self, h: dict[str, Any]) -> None:
            iid = h.get("Id") or "<missing>"
            self.ID = iid.removeprefix("sha256:")[:12] if trunc and iid != "<missing>" else iid
            self.CreatedSince = ago(h.get("Created") or 0)
            by = (h.get("CreatedBy") or "").replace("\t", " ")
            self.CreatedBy = ellipsis(by, 45) if trunc else by
            self.Size = human_size(h.get("Size") or 0, 3)
            self.Comment = h.get("Comment") or ""

        def as_dict(self) -> dict[str, str]:
            return dict(vars(self))

    rows = [Row(h) for h in ctx.client.get_json(f"/images/{f.args[0]}/history")]
    if f.on("quiet"):
        sys.stdout.write("".join(r.ID + "\n" for r in rows))
        return 0
    fmt = f.get("format") or (
        "table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}"
    )
    from wharfie.cli.fmt import IMAGE_HEADERS

    sys.stdout.write(render_rows(rows, fmt, IMAGE_HEADERS | {"ID": "IMAGE"}))
    return 0


COMMIT_FLAGS = table(
    """
    a author value
    m message value
    c change list
    p pause bool
    """
)


def cmd_commit(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.run import full_name, split_ref

    f = parse(argv, COMMIT_FLAGS)
    if len(f.args) not in (1, 2):
        raise InvalidArgument('"commit" requires at least 1 and at most 2 arguments.')
    query: dict[str, Any] = {
        "author": f.get("author") or "",
        "changes": f.all("change") or None,
        "comment": f.get("message") or "",
        "container": f.args[0],
    }
    if len(f.args) == 2:
        name, tag = split_ref(f.args[1])
        query["repo"] = full_name(name)
        query["tag"] = tag
    if not f.on("pause", True):
        query["pause"] = False
    resp = ctx.client.post_json("/commit", None, query)
    print(resp["Id"])
    return 0


def import_image(
    client: Client,
    body: Iterable[bytes],
    ref: str | None,
    changes: list[str],
    message: str | None = None,
) -> str:
    """POST /images/create?fromSrc=- with a tar body; returns the image id."""
    query: dict[str, Any] = {"fromSrc": "-", "repo": ref, "changes": changes or None}
    query["message"] = message
    image_id = ""
    for msg in client.stream_lines("POST", "/images/create", query=query, body=body):
        if msg.get("error") or msg.get("errorDetail"):
            detail = msg.get("errorDetail") or {}
            raise APIError(500, str(msg.get("error") or detail.get("message")))
        if msg.get("status"):
            image_id = str(msg["status"])
    return image_id


def cmd_import(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, table("c change list\nm message value\n- platform value"))
    if len(f.args) not in (1, 2):
        raise InvalidArgument('"import" requires at least 1 and at most 2 arguments.')
    src = f.args[0]
    if src == "-":
        body: Iterable[bytes] = iter(lambda: os.read(0, 65536), b"")
    else:
        fd = os.open(src, os.O_RDONLY)
        body = iter(lambda: os.read(fd, 65536), b"")
    ref = f.args[1] if len(f.args) == 2 else None
    print(import_image(ctx.client, body, ref, f.all("change"), f.get("message")))
    return 0


def cmd_bootstrap(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.bootstrap import BUSYBOX, build_tar

    f = parse(argv, table("- tag value\n- busybox value"))
    if f.args != ["busybox"]:
        raise InvalidArgument("usage: wharfie image bootstrap busybox [--tag busybox:latest]")
    data = build_tar(f.get("busybox") or BUSYBOX)
    chunks = (data[i : i + 65536] for i in range(0, len(data), 65536))
    ref = f.get("tag") or "busybox:latest"
    print(import_image(ctx.client, chunks, ref, ['CMD ["sh"]']))
    return 0
