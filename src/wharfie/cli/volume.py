"""`wharfie volume ls|create|inspect|rm|prune`, with docker's flags and output."""

from __future__ import annotations

import sys

from wharfie.cli.flags import parse, table
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context

LS_FORMAT = "table {{.Driver}}\\t{{.Name}}"
HEADERS = {
    "Driver": "DRIVER",
    "Name": "VOLUME NAME",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
    "CreatedAt": "CREATED AT",
}


class VolumeRow:
    """A `volume ls` row: the fields docker's volume formatter offers."""

    def __init__(self, v: dict[str, Any]) -> None:
        self.Name = v.get("Name") or ""
        self.Driver = v.get("Driver") or ""
        self.Scope = v.get("Scope") or ""
        self.Mountpoint = v.get("Mountpoint") or ""
        self.CreatedAt = v.get("CreatedAt") or ""
        self._labels: dict[str, str] = v.get("Labels") or {}
        self.Labels = ",".join(f"{k}={val}" for k, val in sorted(self._labels.items()))
        usage = v.get("UsageData") or {}
        self.Links = str(usage["RefCount"]) if usage.get("RefCount", -1) >= 0 else "N/A"
        self.Size = _size(usage)
        self.Availability = self.Group = self.Status = "N/A"

    def Label(self, name: str) -> str:  # {{.Label "key"}}
        return self._labels.get(name, "")


def _size(usage: dict[str, Any]) -> str:
    from wharfie.cli.units import human_size

    size = usage.get("Size", -1)
    return human_size(size) if size is not None and size >= 0 else "N/A"


LS_FLAGS = table("q quiet bool\n- format value\nf filter list\n- cluster bool")


def cmd_ls(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.fmt import render_rows

    f = parse(argv, LS_FLAGS)
    if f.args:
        raise InvalidArgument('"volume ls" accepts no arguments.')
    doc = ctx.client.get_json("/volumes", {"filters": filters_arg(f.all("filter"))})
    vols = sorted(doc.get("Volumes") or [], key=lambda v: v.get("Name") or "")
    for warning in doc.get("Warnings") or []:
        sys.stderr.write(f"{warning}\n")
    if f.on("quiet") and not f.has("format"):
        sys.stdout.write("".join(v["Name"] + "\n" for v in vols))
        return 0
    fmt = f.get("format") or LS_FORMAT
    sys.stdout.write(render_rows([VolumeRow(v) for v in vols], fmt, HEADERS))
    return 0


CREATE_FLAGS = table("d driver value\n- label list\no opt list\n- name value")


def cmd_create(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, CREATE_FLAGS)
    if len(f.args) > 1:
        raise InvalidArgument('"volume create" requires at most 1 argument.')
    name = f.args[0] if f.args else f.get("name") or ""
    if f.args and f.get("name") and f.get("name") != f.args[0]:
        raise InvalidArgument(
            "conflicting options: cannot specify a volume-name through both --name and as "
            "a positional arg"
        )
    body = {
        "Name": name,
        "Driver": f.get("driver") or "local",
        "DriverOpts": _kv(f.all("opt"), "opt"),
        "Labels": _kv(f.all("label"), "label"),
    }
    vol = ctx.client.post_json("/volumes/create", body)
    print(vol["Name"])
    return 0


def _kv(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, eq, value = item.partition("=")
        if flag == "opt" and not eq:
            raise InvalidArgument(f'invalid argument "{item}" for "-o, --opt" flag: '
                                  "bad format for opt")  # fmt: skip
        out[key] = value
    return out


def cmd_inspect(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import inspect_each

    f = parse(argv, table("f format value"))
    return inspect_each(
        ctx, f.args, f.get("format"), "volume inspect", lambda name: f"/volumes/{name}"
    )


def cmd_rm(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import each

    f = parse(argv, table("f force bool"))
    query = {"force": f.on("force") or None}
    return each(ctx, f.args, lambda name: ctx.client.delete(f"/volumes/{name}", query), "volume rm")


def cmd_prune(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.system import _confirm
    from wharfie.cli.units import human_size

    f = parse(argv, table("a all bool\n- filter list\nf force bool"))
    filters = filters_arg(f.all("filter")) or {}
    which = "all" if f.on("all") else "anonymous"
    warning = f"WARNING! This will remove {which} local volumes not used by at least one container."
    if f.on("all"):
        if "all" in filters:
            raise InvalidArgument(
                "conflicting options: cannot specify both --all and --filter all=1"
            )
        filters["all"] = {"true": True}
    if not _confirm(ctx, f.on("force"), warning):
        return 0
    doc = ctx.client.post_json("/volumes/prune", None, {"filters": filters or None}) or {}
    deleted = doc.get("VolumesDeleted") or []
    if deleted:
        print("Deleted Volumes:\n" + "\n".join(deleted) + "\n")
    print(f"Total reclaimed space: {human_size(int(doc.get('SpaceReclaimed') or 0))}")
    return 0
