"""events, info, version, system df and the prune commands."""

from __future__ import annotations

import sys

from wharfie.cli.flags import parse, table
from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from wharfie.cli.context import Context


def event_line(ev: dict[str, Any]) -> str:
    """docker's default events line: time type action id (k=v, ...)."""
    import time

    nano = int(ev.get("timeNano") or int(ev.get("time") or 0) * 1_000_000_000)
    sec, frac = divmod(nano, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(sec)) + f".{frac:09d}"
    zone = time.strftime("%z", time.localtime(sec))
    stamp += zone[:3] + ":" + zone[3:] if zone not in ("+0000", "") else "Z"
    actor = ev.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    tail = ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs))
    line = f"{stamp} {ev.get('Type', '')} {ev.get('Action', '')} {actor.get('ID', '')}"
    return f"{line} ({tail})" if tail else line


def cmd_events(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.container import filters_arg
    from wharfie.cli.template import docker_format, render
    from wharfie.cli.template import parse as parse_template
    from wharfie.cli.units import timestamp

    f = parse(argv, table("- since value\n- until value\nf filter list\n- format value"))
    query: dict[str, Any] = {"filters": filters_arg(f.all("filter"))}
    if f.has("since"):
        query["since"] = timestamp(f.get("since") or "")
    if f.has("until"):
        query["until"] = timestamp(f.get("until") or "")
    fmt = f.get("format")
    nodes = (
        parse_template(docker_format("{{json .}}" if fmt == "json" else fmt)[1]) if fmt else None
    )
    for ev in ctx.client.stream_lines("GET", "/events", query=query):
        sys.stdout.write((render(nodes, ev) if nodes else event_line(ev)) + "\n")
        sys.stdout.flush()
    return 0


def cmd_info(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.template import render
    from wharfie.cli.units import bytes_size

    f = parse(argv, table("f format value"))
    info = ctx.client.get_json("/info")
    if f.get("format"):
        print(render(f.get("format") or "", info))
        return 0
    g = info.get
    lines = [
        "Client:",
        f" Version:    {_client_version()}",
        " Context:    default",
        " Debug Mode: false",
        "",
        "Server:",
        f" Containers: {g('Containers', 0)}",
        f"  Running: {g('ContainersRunning', 0)}",
        f"  Paused: {g('ContainersPaused', 0)}",
        f"  Stopped: {g('ContainersStopped', 0)}",
        f" Images: {g('Images', 0)}",
        f" Server Version: {g('ServerVersion', '')}",
        f" Storage Driver: {g('Driver', '')}",
    ]
    lines += [f"  {k}: {v}" for k, v in g("DriverStatus") or []]
    lines += [
        f" Logging Driver: {g('LoggingDriver', '')}",
        f" Cgroup Driver: {g('CgroupDriver', '')}",
        f" Cgroup Version: {g('CgroupVersion', '')}",
        " Plugins:",
        *(
            f"  {kind}: {' '.join((g('Plugins') or {}).get(kind) or [])}"
            for kind in ("Volume", "Network", "Log")
        ),
        f" Swarm: {(g('Swarm') or {}).get('LocalNodeState', 'inactive')}",
        " Runtimes: " + " ".join(sorted(g("Runtimes") or {})),
        f" Default Runtime: {g('DefaultRuntime', '')}",
        " Security Options:",
    ]
    for opt in g("SecurityOptions") or []:
        fields = dict(kv.partition("=")[::2] for kv in str(opt).split(","))
        lines.append("  " + fields.pop("name", ""))
        lines += [f"   {k.title()}: {v}" for k, v in fields.items()]
    lines += [
        f" Kernel Version: {g('KernelVersion', '')}",
        f" Operating System: {g('OperatingSystem', '')}",
        f" OSType: {g('OSType', '')}",
        f" Architecture: {g('Architecture', '')}",
        f" CPUs: {g('NCPU', 0)}",
        f" Total Memory: {bytes_size(g('MemTotal') or 0)}",
        f" Name: {g('Name', '')}",
        f" ID: {g('ID', '')}",
        f" Docker Root Dir: {g('DockerRootDir', '')}",
        f" Debug Mode: {str(bool(g('Debug'))).lower()}",
        f" Experimental: {str(bool(g('ExperimentalBuild'))).lower()}",
        " Insecure Registries:",
        *(f"  {r}" for r in (g("RegistryConfig") or {}).get("InsecureRegistryCIDRs") or []),
        f" Live Restore Enabled: {str(bool(g('LiveRestoreEnabled'))).lower()}",
        "",
    ]
    sys.stdout.write("\n".join(lines) + "\n")
    for w in g("Warnings") or []:
        sys.stderr.write(w + "\n")
    return 0


def _client_version() -> str:
    from wharfie import __version__

    return __version__


def cmd_version(ctx: Context, argv: list[str]) -> int:
    import platform

    from wharfie.cli.template import docker_format, render
    from wharfie.client.api import MAX_API_VERSION

    f = parse(argv, table("f format value"))
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    client_info: dict[str, Any] = {
        "Platform": {"Name": "Wharfie"},
        "Version": _client_version(),
        "ApiVersion": MAX_API_VERSION,
        "DefaultAPIVersion": MAX_API_VERSION,
        "GoVersion": "python" + platform.python_version(),
        "Os": "linux",
        "Arch": arch,
        "Context": "default",
    }
    server: dict[str, Any] | None = None
    err = None
    try:
        client = ctx.client
        api = client.api_version()
        client_info["ApiVersion"] = api
        server = client.get_json("/version")
    except Exception as exc:
        err = exc
    fmt = f.get("format")
    if fmt:
        print(render(docker_format(fmt)[1], {"Client": client_info, "Server": server}))
    else:
        sys.stdout.write(_version_text(client_info, server))
    if err is not None:
        raise err
    return 0


def _version_text(c: dict[str, Any], s: dict[str, Any] | None) -> str:
    from wharfie.client.api import MAX_API_VERSION

    api = c["ApiVersion"]
    api_note = "" if api == MAX_API_VERSION else f" (downgraded from {MAX_API_VERSION})"
    lines = [
        "Client:",
        f" Version:           {c['Version']}",
        f" API version:       {api}{api_note}",
        f" Python version:    {c['GoVersion'].removeprefix('python')}",
        f" OS/Arch:           {c['Os']}/{c['Arch']}",
        f" Context:           {c['Context']}",
    ]
    if s is not None:
        lines += ["", f"Server: {(s.get('Platform') or {}).get('Name', '')}".rstrip()]
        for comp in s.get("Components") or [
            {"Name": "Engine", "Version": s.get("Version"), "Details": s}
        ]:
            d = comp.get("Details") or {}
            lines.append(f" {comp.get('Name')}:")
            lines.append(f"  Version:          {comp.get('Version', '')}")
            if comp.get("Name") == "Engine":
                lines += [
                    f"  API version:      {d.get('ApiVersion', '')} "
                    f"(minimum version {d.get('MinAPIVersion', '')})",
                    f"  Go version:       {d.get('GoVersion', '')}",
                    f"  Git commit:       {d.get('GitCommit', '')}",
                    f"  Built:            {_ansic(d.get('BuildTime', ''))}",
                    f"  OS/Arch:          {d.get('Os', '')}/{d.get('Arch', '')}",
                    f"  Experimental:     {d.get('Experimental', 'false')}",
                ]
            elif "GitCommit" in d:
                lines.append(f"  GitCommit:        {d.get('GitCommit')}")
    return "\n".join(lines) + "\n"


def _ansic(stamp: str) -> str:
    """RFC 3339 -> Go's time.ANSIC ("Thu May  7 21:09:36 2026"), as docker version prints."""
    from wharfie.times import parse

    try:
        t = parse(stamp)
    except InvalidArgument:  # not a time: print it as the daemon sent it
        return stamp
    import time

    parts = time.gmtime(t)
    return (
        time.strftime("%a %b ", parts)
        + f"{parts.tm_mday:2d}"
        + time.strftime(" %H:%M:%S %Y", parts)
    )


def cmd_df(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.units import human_size, tabulate

    f = parse(argv, table("v verbose bool\n- format value"))
    df = ctx.client.get_json("/system/df")
    images = df.get("Images") or []
    containers = df.get("Containers") or []
    volumes = df.get("Volumes") or []
    cache = df.get("BuildCache") or []

    def pct(part: float, whole: float) -> str:
        if not whole:
            return human_size(part)
        return f"{human_size(part)} ({int(part * 100 / whole)}%)"

    img_size = float(df.get("LayersSize") or sum(i.get("Size") or 0 for i in images))
    img_active = [i for i in images if (i.get("Containers") or 0) > 0]
    img_used = sum(float(i.get("Size") or 0) - float(i.get("SharedSize") or 0) for i in img_active)
    img_rec = max(img_size - img_used, 0.0)
    c_size = sum(float(c.get("SizeRw") or 0) for c in containers)
    c_active = [c for c in containers if c.get("State") == "running"]
    c_rec = c_size - sum(float(c.get("SizeRw") or 0) for c in c_active)
    v_size = sum(float((v.get("UsageData") or {}).get("Size") or 0) for v in volumes)
    v_active = [v for v in volumes if ((v.get("UsageData") or {}).get("RefCount") or 0) > 0]
    v_rec = sum(
        float((v.get("UsageData") or {}).get("Size") or 0) for v in volumes if v not in v_active
    )
    b_size = sum(float(b.get("Size") or 0) for b in cache)
    rows = [
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"],
        [
            "Images",
            str(len(images)),
            str(len(img_active)),
            human_size(img_size),
            pct(img_rec, img_size),
        ],
        [
            "Containers",
            str(len(containers)),
            str(len(c_active)),
            human_size(c_size),
            pct(c_rec, c_size),
        ],
        [
            "Local Volumes",
            str(len(volumes)),
            str(len(v_active)),
            human_size(v_size),
            pct(v_rec, v_size),
        ],
        ["Build Cache", str(len(cache)), "0", human_size(b_size), human_size(b_size)],
    ]
    sys.stdout.write(tabulate(rows, minwidth=10))
    if f.on("verbose"):
        sys.stdout.write("\nImages space usage:\n\n")
        sys.stdout.write(
            tabulate(
                [["IMAGE ID", "SIZE", "CONTAINERS"]]
                + [
                    [
                        i.get("Id", "").removeprefix("sha256:")[:12],
                        human_size(i.get("Size") or 0, 3),
                        str(i.get("Containers", 0)),
                    ]
                    for i in images
                ]
            )
        )
        sys.stdout.write("\nContainers space usage:\n\n")
        sys.stdout.write(
            tabulate(
                [["CONTAINER ID", "IMAGE", "SIZE", "STATUS"]]
                + [
                    [
                        c.get("Id", "")[:12],
                        c.get("Image", ""),
                        human_size(c.get("SizeRw") or 0, 3),
                        c.get("Status", ""),
                    ]
                    for c in containers
                ]
            )
        )
    return 0


def _confirm(ctx: Context, force: bool, warning: str) -> bool:
    if force:
        return True
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def _prune(ctx: Context, path: str, filters: dict[str, Any] | None) -> tuple[list[str], int]:
    from wharfie.client.api import APIError

    try:
        doc = ctx.client.post_json(path, None, {"filters": filters or None}) or {}
    except APIError as exc:
        if exc.status in (404, 501) and path.startswith(("/networks", "/build")):
            return [], 0
        raise
    deleted: list[str] = []
    for key in ("ContainersDeleted", "VolumesDeleted", "NetworksDeleted", "CachesDeleted"):
        deleted += doc.get(key) or []
    for item in doc.get("ImagesDeleted") or []:
        if item.get("Untagged"):
            deleted.append(f"untagged: {item['Untagged']}")
        if item.get("Deleted"):
            deleted.append(f"deleted: {item['Deleted']}")
    return deleted, int(doc.get("SpaceReclaimed") or 0)


def _filters(f: Any) -> dict[str, Any]:
    from wharfie.cli.container import filters_arg

    return filters_arg(f.all("filter")) or {}


PRUNE_FLAGS = table("f force bool\n- filter list\na all bool\n- volumes bool")


def cmd_container_prune(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.units import human_size

    f = parse(argv, PRUNE_FLAGS)
    if not _confirm(ctx, f.on("force"), "WARNING! This will remove all stopped containers."):
        return 0
    deleted, space = _prune(ctx, "/containers/prune", _filters(f))
    if deleted:
        print("Deleted Containers:\n" + "\n".join(deleted) + "\n")
    print(f"Total reclaimed space: {human_size(space)}")
    return 0


def cmd_image_prune(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.units import human_size

    f = parse(argv, PRUNE_FLAGS)
    warning = (
        "WARNING! This will remove all images without at least one container associated to them."
        if f.on("all")
        else "WARNING! This will remove all dangling images."
    )
    if not _confirm(ctx, f.on("force"), warning):
        return 0
    filters = _filters(f)
    filters["dangling"] = {"false" if f.on("all") else "true": True}
    deleted, space = _prune(ctx, "/images/prune", filters)
    if deleted:
        print("Deleted Images:\n" + "\n".join(deleted) + "\n")
    print(f"Total reclaimed space: {human_size(space)}")
    return 0


def cmd_system_prune(ctx: Context, argv: list[str]) -> int:
    from wharfie.cli.units import human_size

    f = parse(argv, PRUNE_FLAGS)
    items = ["all stopped containers", "all networks not used by at least one container"]
    if f.on("volumes"):
        items.append("all anonymous volumes not used by at least one container")
    items.append(
        "all images without at least one container associated to them"
        if f.on("all")
        else "all dangling images"
    )
    items.append("unused build cache")
    warning = "WARNING! This will remove:\n" + "".join(f"  - {i}\n" for i in items)
    if not _confirm(ctx, f.on("force"), warning.rstrip("\n")):
        return 0
    total = 0
    filters = _filters(f)
    steps = [("/containers/prune", "Deleted Containers:"), ("/networks/prune", "Deleted Networks:")]
    if f.on("volumes"):
        steps.append(("/volumes/prune", "Deleted Volumes:"))
    for path, title in steps:
        deleted, space = _prune(ctx, path, filters)
        total += space
        if deleted:
            print(title + "\n" + "\n".join(deleted) + "\n")
    img_filters = dict(filters)
    img_filters["dangling"] = {"false" if f.on("all") else "true": True}
    deleted, space = _prune(ctx, "/images/prune", img_filters)
    total += space
    if deleted:
        print("Deleted Images:\n" + "\n".join(deleted) + "\n")
    print(f"Total reclaimed space: {human_size(total)}")
    return 0


def _unused(argv: list[str]) -> None:
    if argv:
        raise InvalidArgument(f"unexpected arguments: {' '.join(argv)}")
