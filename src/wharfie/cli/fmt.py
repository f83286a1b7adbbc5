"""Table and --format output shared by ps, images, stats, history."""

from __future__ import annotations

import time

from wharfie.cli.template import docker_format, fields, parse, render
from wharfie.cli.units import ago, human_size, tab_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "Status": "STATUS",
    "Size": "SIZE",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Label": "LABEL",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "State": "STATE",
    "LocalVolumes": "LOCAL VOLUMES",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": "CREATED",
    "CreatedBy": "CREATED BY",
    "Comment": "COMMENT",
    "Container": "CONTAINER",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}


def go_quote(s: str) -> str:
    """strconv.Quote for printable text: escapes backslash, quote and control characters."""
    out = ['"']
    for ch in s:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def ellipsis(s: str, width: int) -> str:
    """docker's formatter.Ellipsis: cut to width-1 characters plus "…"."""
    if len(s) <= width:
        return s
    if width <= 1:
        return s[:width]
    return s[: width - 1] + "\u2026"


def created_at(unix: float) -> str:
    """Go's time.Time.String() for a local time: "2024-01-02 15:04:05 +0000 UTC"."""
    t = time.localtime(unix)
    return time.strftime("%Y-%m-%d %H:%M:%S %z %Z", t)


def render_rows(rows: list[Any], fmt: str, headers: dict[str, str] | None = None) -> str:
    """Render `rows` (objects with the format's fields) with a docker --format string."""
    if fmt == "json":
        fmt = "{{json .}}"
    table, body = docker_format(fmt)
    nodes = parse(body)
    simple = [f for f in (_simple_field(n) for n in nodes) if f is not None]
    if len(simple) == len(nodes):
        # Fast path (the default tables): plain fields, no template evaluation per row.
        pairs = list(zip(nodes, simple, strict=True))
        lines = ["".join(n if f == "" else str(getattr(row, f)) for n, f in pairs) for row in rows]
    else:
        lines = [render(nodes, row) for row in rows]
    if not table:
        return "".join(line + "\n" for line in lines)
    names = headers or HEADERS
    header = "".join(n if isinstance(n, str) else _header(n, names) for n in nodes)
    return tab_text("\n".join([header, *lines]))


def _simple_field(node: Any) -> str | None:
    """ "" for text, the field name for `{{.Field}}`, None for anything else."""
    if isinstance(node, str):
        return ""
    if node[0] == "pipe" and len(node[1]) == 1 and len(node[1][0]) == 1:
        tok = node[1][0][0]
        if tok.startswith(".") and tok.count(".") == 1 and len(tok) > 1:
            return str(tok[1:])
    return None


def _header(node: Any, names: dict[str, str]) -> str:
    if node[0] != "pipe":
        return ""
    field = fields([node])[0]
    return names.get(field, field.upper())


class ContainerRow:
    """One `ps` line; attributes are docker's --format fields."""

    def __init__(self, c: dict[str, Any], trunc: bool = True, now: float | None = None) -> None:
        self.c = c
        cid = c.get("Id") or ""
        self.ID = cid[:12] if trunc else cid
        image = c.get("Image") or ""
        if trunc and image.startswith("sha256:"):
            image = image[7:19]
        self.Image = image
        command = c.get("Command") or ""
        self.Command = go_quote(ellipsis(command, 20) if trunc else command)
        self.RunningFor = ago(c.get("Created") or 0, now)
        self.Ports = display_ports(c["Ports"]) if c.get("Ports") else ""
        self.Status = c.get("Status") or ""
        self.State = c.get("State") or ""
        names = [n.lstrip("/") for n in c.get("Names") or []]
        if trunc:
            names = [n for n in names if "/" not in n]
        self.Names = ",".join(names)
        self.trunc = trunc

    # The fields below are computed only when a --format asks for them.
    @property
    def CreatedAt(self) -> str:
        return created_at(self.c.get("Created") or 0)

    @property
    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in (self.c.get("Labels") or {}).items())

    @property
    def Mounts(self) -> str:
        names = [m.get("Name") or m.get("Source") or "" for m in self.c.get("Mounts") or []]
        return ",".join(ellipsis(n, 15) if self.trunc else n for n in names)

    @property
    def Networks(self) -> str:
        return ",".join(sorted((self.c.get("NetworkSettings") or {}).get("Networks") or {}))

    @property
    def LocalVolumes(self) -> str:
        mounts = self.c.get("Mounts") or []
        return str(sum(1 for m in mounts if m.get("Driver") == "local"))

    @property
    def Size(self) -> str:
        rw, root = self.c.get("SizeRw") or 0, self.c.get("SizeRootFs") or 0
        return f"{human_size(rw, 3)} (virtual {human_size(root, 3)})"

    def Label(self, key: str) -> str:
        labels: dict[str, str] = self.c.get("Labels") or {}
        return labels.get(key, "")

    def as_dict(self) -> dict[str, str]:
        keys = [
            "Command",
            "CreatedAt",
            "ID",
            "Image",
            "Labels",
            "LocalVolumes",
            "Mounts",
            "Names",
            "Networks",
            "Ports",
            "RunningFor",
            "Size",
            "State",
            "Status",
        ]
        return {k: getattr(self, k) for k in keys}


def display_ports(ports: list[dict[str, Any]]) -> str:
    """0.0.0.0:8080->80/tcp, 443/tcp (docker groups ranges too; single ports here)."""
    out = []
    for p in sorted(ports, key=lambda p: (p.get("PrivatePort") or 0, p.get("Type") or "")):
        proto = p.get("Type") or "tcp"
        if p.get("PublicPort"):
            ip = p.get("IP") or "0.0.0.0"
            ip = f"[{ip}]" if ":" in ip else ip
            out.append(f"{ip}:{p['PublicPort']}->{p.get('PrivatePort')}/{proto}")
        else:
            out.append(f"{p.get('PrivatePort')}/{proto}")
    return ", ".join(out)


def image_ref_parts(tag: str) -> tuple[str, str]:
    colon, slash = tag.rfind(":"), tag.rfind("/")
    if colon > slash:
        return tag[:colon], tag[colon + 1 :]
    return tag, "<none>"


class ImageRow:
    """One `images` line."""

    def __init__(
        self, img: dict[str, Any], ref: str | None, trunc: bool = True, now: float | None = None
    ) -> None:
        self.img = img
        self.Repository, self.Tag = image_ref_parts(ref) if ref else ("<none>", "<none>")
        iid = img.get("Id") or ""
        self.ID = iid.removeprefix("sha256:")[:12] if trunc else iid
        created = img.get("Created") or 0
        self.CreatedSince = ago(created, now)
        self.CreatedAt = created_at(created)
        self.Size = human_size(img.get("Size") or 0, 3)
        digests = img.get("RepoDigests") or []
        self.Digest = digests[0].partition("@")[2] if digests else "<none>"
        self.Containers = str(img.get("Containers", -1))

    def as_dict(self) -> dict[str, str]:
        keys = [
            "Containers",
            "CreatedAt",
            "CreatedSince",
            "Digest",
            "ID",
            "Repository",
            "Size",
            "Tag",
        ]
        return {k: getattr(self, k) for k in keys}


IMAGE_HEADERS = HEADERS | {"ID": "IMAGE ID"}
