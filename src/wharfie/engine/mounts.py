"""A container's mount points: Binds (`-v`), Mounts (`--mount`), VolumesFrom and the
anonymous volumes of Config.Volumes / the image's VOLUME, in moby's precedence (pure).

`plan(...)` gives the mount points a container is created with, one per destination:

1. VolumesFrom first: every mount point of the other container, `RW` only if both the
   source mount and the `:rw|:ro` mode (default rw) allow it;
2. Binds, then Mounts: each replaces a volumes-from point at the same destination
   (a destination twice among them is validate's `Duplicate mount point`);
3. Config.Volumes (the request's and the image's): an anonymous volume for each
   destination that nothing above (nor HostConfig.Tmpfs) covers, filled by copy-up.

A point is a dict: the fields inspect shows under Mounts (Type, Name, Source,
Destination, Driver, Mode, RW, Propagation) plus private ones: CopyData (copy-up
wanted), Recursive (rbind), Options (tmpfs), DriverOpts/Labels (for a volume that
does not exist yet), Anonymous. A volume point's Name is "" until the engine creates
the volume (engine/volumes.py) and fills Name and Source in.
"""

from __future__ import annotations

import os
from typing import Any

from wharfie.engine import validate
from wharfie.errors import InvalidArgument

PUBLIC = ("Type", "Name", "Source", "Destination", "Driver", "Mode", "RW", "Propagation")


def user_mounts(host_config: dict[str, Any]) -> list[dict[str, Any]]:
    """Binds (`-v`) then Mounts (`--mount`), in validate's one shape (volume options kept)."""
    binds = validate.parse_binds([b for b in host_config.get("Binds") or [] if b])
    for b in binds:
        if b["Type"] == "volume":
            b["Driver"] = host_config.get("VolumeDriver") or ""
    raw = [m for m in host_config.get("Mounts") or [] if m]
    mounts = validate.parse_mounts(raw)
    for parsed, given in zip(mounts, raw, strict=True):
        if parsed["Type"] == "volume":
            _volume_options(parsed, given)
        elif given.get("VolumeOptions"):
            raise InvalidArgument(
                f'invalid mount config for type "{parsed["Type"]}": VolumeOptions must not be '
                "specified"
            )
    return binds + mounts


def _volume_options(parsed: dict[str, Any], given: dict[str, Any]) -> None:
    if given.get("BindOptions"):
        raise InvalidArgument(
            'invalid mount config for type "volume": BindOptions must not be specified'
        )
    if given.get("TmpfsOptions"):
        raise InvalidArgument(
            'invalid mount config for type "volume": TmpfsOptions must not be specified'
        )
    opts = given.get("VolumeOptions") or {}
    driver_cfg = opts.get("DriverConfig") or {}
    parsed["NoCopy"] = bool(opts.get("NoCopy"))
    parsed["Labels"] = dict(opts.get("Labels") or {})
    parsed["Driver"] = driver_cfg.get("Name") or ""
    parsed["DriverOpts"] = dict(driver_cfg.get("Options") or {})
    parsed["Mode"] = "z"
    if opts.get("Subpath"):
        raise InvalidArgument(
            'invalid mount config for type "volume": volume subpaths are not supported'
        )


def check(host_config: dict[str, Any]) -> None:
    """What create refuses before anything is made: bad specs, a missing `--mount` bind
    source (moby: `-v` creates it, `--mount` does not), bad VolumesFrom entries."""
    points = user_mounts(host_config)
    for m in points:
        if m["Type"] == "volume" and m.get("Name"):
            from wharfie.volumes import check_name

            check_name(m["Name"])
    for m in validate.parse_mounts([m for m in host_config.get("Mounts") or [] if m]):
        if m["Type"] == "bind" and not os.path.exists(m["Source"]):
            raise InvalidArgument(
                'invalid mount config for type "bind": bind source path does not exist: '
                f"{m['Source']}"
            )
    for spec in host_config.get("VolumesFrom") or []:
        parse_volumes_from(spec)


def parse_volumes_from(spec: str) -> tuple[str, bool]:
    """`container[:ro|:rw]` -> (container, writable)."""
    if not spec:
        raise InvalidArgument("volume-from specification cannot be an empty string")
    ref, sep, mode = spec.partition(":")
    if sep and mode not in ("ro", "rw"):
        raise InvalidArgument(f"invalid mode: {mode}")
    return ref, mode != "ro"


def plan(
    config: dict[str, Any],
    host_config: dict[str, Any],
    image_volumes: dict[str, Any] | None,
    volumes_from: list[tuple[list[dict[str, Any]], bool]],
) -> list[dict[str, Any]]:
    """The container's mount points (see the module docstring), sorted as moby mounts
    them (fewer path components first). `volumes_from`: (points of the other container,
    writable) per VolumesFrom entry."""
    points: dict[str, dict[str, Any]] = {}
    for others, writable in volumes_from:
        for m in others:
            points[m["Destination"]] = {**m, "RW": bool(m.get("RW")) and writable}
    for m in user_mounts(host_config):
        points[m["Destination"]] = _point(m)
    tmpfs = {os.path.normpath(d) for d in host_config.get("Tmpfs") or {}}
    wanted = dict(image_volumes or {})
    wanted.update(config.get("Volumes") or {})
    for dest in sorted(wanted):
        dest = os.path.normpath(dest)
        if dest in points or dest in tmpfs:
            continue
        if not dest.startswith("/") or dest == "/":
            raise InvalidArgument(
                f"invalid mount config for type \"volume\": invalid mount path: '{dest}' "
                "mount path must be absolute"
            )
        points[dest] = _volume_point("", dest, "", True, True)
    return sort_points(list(points.values()))


def sort_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(points, key=lambda m: len([p for p in m["Destination"].split("/") if p]))


def _volume_point(name: str, dest: str, mode: str, rw: bool, copy: bool) -> dict[str, Any]:
    return {
        "Type": "volume",
        "Name": name,
        "Source": "",
        "Destination": dest,
        "Driver": "local",
        "Mode": mode,
        "RW": rw,
        "Propagation": "",
        "CopyData": copy,
        "Anonymous": not name,
        "DriverOpts": {},
        "Labels": {},
    }


def _point(m: dict[str, Any]) -> dict[str, Any]:
    if m["Type"] == "bind":
        return {
            "Type": "bind",
            "Source": m["Source"],
            "Destination": m["Destination"],
            "Mode": m.get("Mode", ""),
            "RW": m["RW"],
            "Propagation": m.get("Propagation") or "rprivate",
            "Recursive": m.get("Recursive", True),
            "CreateSource": "Recursive" not in m,  # -v creates a missing source
        }
    if m["Type"] == "tmpfs":
        return {
            "Type": "tmpfs",
            "Source": "",
            "Destination": m["Destination"],
            "Mode": "",
            "RW": "ro" not in m["Options"],
            "Propagation": "",
            "Options": m["Options"],
        }
    mode = m.get("Mode", "")
    options = mode.split(",") if mode else []
    point = _volume_point(
        m.get("Name") or "",
        m["Destination"],
        mode or "z",
        m["RW"],
        not m.get("NoCopy") and "nocopy" not in options,
    )
    point["Propagation"] = m.get("Propagation") or ""
    point["Driver"] = m.get("Driver") or "local"
    point["DriverOpts"] = m.get("DriverOpts") or {}
    point["Labels"] = m.get("Labels") or {}
    return point


def public(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inspect's Mounts: moby's MountPoint fields (Name and Driver only for volumes)."""
    out = []
    for m in points:
        row = {k: m.get(k, "") for k in PUBLIC}
        if m["Type"] != "volume":
            del row["Name"], row["Driver"]
        out.append(row)
    return out


def prepare_binds(points: list[dict[str, Any]]) -> None:
    """`-v /host/dir:/x` creates a missing host directory, as Docker does (`--mount` does not)."""
    for m in points:
        if m["Type"] == "bind" and m.get("CreateSource") and not os.path.exists(m["Source"]):
            os.makedirs(m["Source"], mode=0o755, exist_ok=True)


def spec_mounts(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points as the runtime spec takes them: bind (volumes bind their host path) or tmpfs."""
    out = []
    for m in points:
        if m["Type"] == "tmpfs":
            out.append({"Type": "tmpfs", "Destination": m["Destination"], "Options": m["Options"]})
            continue
        if not m.get("Source"):
            raise InvalidArgument(f"mount point {m['Destination']} has no source")
        out.append(
            {
                "Type": "bind",
                "Source": m["Source"],
                "Destination": m["Destination"],
                "RW": bool(m["RW"]),
                "Propagation": m.get("Propagation") or "rprivate",
                "Recursive": m.get("Recursive", True),
            }
        )
    return out
