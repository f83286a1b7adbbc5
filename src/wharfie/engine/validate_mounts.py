"""HostConfig.Binds, Mounts and Tmpfs read as moby's linux mount parser reads them (pure;
moby 25's wording). Part of the container create checks (engine.validate)."""

from __future__ import annotations

import os
from typing import Any

from wharfie.errors import InvalidArgument

__all__ = [
    "TMPFS_DEFAULTS",
    "check_duplicate_mounts",
    "merge_tmpfs_options",
    "parse_binds",
    "parse_mounts",
    "parse_tmpfs",
]

PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def _mount_error(kind: str, message: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{kind}": {message}')


def _valid_mode(mode: str) -> bool:
    if not mode:
        return True
    counts = {"rw": 0, "prop": 0, "label": 0, "copy": 0, "consistency": 0}
    for part in mode.split(","):
        if part in ("rw", "ro"):
            counts["rw"] += 1
        elif part in PROPAGATIONS:
            counts["prop"] += 1
        elif part in ("z", "Z"):
            counts["label"] += 1
        elif part in ("nocopy", "copy"):
            counts["copy"] += 1
        elif part in ("consistent", "cached", "delegated"):
            counts["consistency"] += 1
        else:
            return False
    return all(n <= 1 for n in counts.values())


def parse_binds(binds: list[str]) -> list[dict[str, Any]]:
    """HostConfig.Binds -> mount dicts, as moby's linux parser (ParseMountRaw) reads them."""
    return [_parse_bind(raw) for raw in binds]


def _parse_bind(raw: str) -> dict[str, Any]:
    parts = raw.split(":")
    if len(parts) == 2 and _valid_mode(parts[1]) and parts[1] and not parts[1].startswith("/"):
        src, dst, mode = "", parts[0], parts[1]
    elif len(parts) == 1:
        src, dst, mode = "", parts[0], ""
    elif len(parts) == 2:
        src, dst, mode = parts[0], parts[1], ""
    elif len(parts) == 3:
        src, dst, mode = parts
    else:
        raise InvalidArgument(f"invalid volume specification: '{raw}'")
    if any(p == "" for p in parts):
        raise InvalidArgument(f"invalid volume specification: '{raw}'")
    if not _valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    kind = "bind" if src.startswith("/") else "volume"
    if dst == "/":
        raise _mount_error(kind, "invalid specification: destination can't be '/'")
    if not dst.startswith("/"):
        raise _mount_error(kind, f"invalid mount path: '{dst}' mount path must be absolute")
    options = mode.split(",") if mode else []
    rw = "ro" not in options
    propagation = next((o for o in options if o in PROPAGATIONS), "")
    if kind == "bind":
        if "nocopy" in options:
            raise InvalidArgument(f"invalid mode: {mode}")
        return {
            "Type": "bind",
            "Source": os.path.normpath(src),
            "Destination": os.path.normpath(dst),
            "Mode": mode,
            "RW": rw,
            "Propagation": propagation or "rprivate",
        }
    return {
        "Type": "volume",
        "Name": src,
        "Destination": os.path.normpath(dst),
        "Mode": mode,
        "RW": rw,
        "Propagation": propagation,
    }


def parse_mounts(mounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HostConfig.Mounts (`--mount`) of type bind and tmpfs -> the shape parse_binds gives.

    Binds: {"Type": "bind", "Source", "Destination", "RW", "Propagation", "Recursive"};
    tmpfs: {"Type": "tmpfs", "Destination", "Options"} (defaults merged, as Tmpfs); volumes:
    {"Type": "volume", "Name", "Destination", "RW"} (engine/mounts.py adds the volume options).
    Whether a bind source exists is the engine's check (moby: "bind source path does not
    exist").
    """
    return [_parse_mount(m) for m in mounts if m]


def _parse_mount(m: dict[str, Any]) -> dict[str, Any]:
    kind = m.get("Type") or ""
    target = m.get("Target") or ""
    source = m.get("Source") or ""
    if kind not in ("bind", "tmpfs", "volume"):
        raise _mount_error(kind, "mount type unknown")
    if not target:
        raise _mount_error(kind, "field Target must not be empty")
    if target == "/":
        raise _mount_error(kind, "invalid specification: destination can't be '/'")
    if not target.startswith("/"):
        raise _mount_error(kind, f"invalid mount path: '{target}' mount path must be absolute")
    rw = not m.get("ReadOnly")
    if kind == "bind":
        if not source:
            raise _mount_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _mount_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        opts = m.get("BindOptions") or {}
        propagation = opts.get("Propagation") or "rprivate"
        if propagation not in PROPAGATIONS:
            raise _mount_error(kind, f"invalid propagation mode: {propagation}")
        return {
            "Type": "bind",
            "Source": os.path.normpath(source),
            "Destination": os.path.normpath(target),
            "Mode": "",
            "RW": rw,
            "Propagation": propagation,
            "Recursive": not opts.get("NonRecursive"),
        }
    if kind == "tmpfs":
        if source:
            raise _mount_error(kind, "must not set Source")
        opts = m.get("TmpfsOptions") or {}
        extra = [] if rw else ["ro"]
        if opts.get("SizeBytes"):
            if opts["SizeBytes"] < 0:
                raise _mount_error(kind, "invalid tmpfs size: must not be negative")
            extra.append(f"size={int(opts['SizeBytes'])}")
        if opts.get("Mode"):
            extra.append(f"mode={int(opts['Mode']) & 0o7777:o}")
        dest = os.path.normpath(target)
        return {
            "Type": "tmpfs",
            "Destination": dest,
            "Options": merge_tmpfs_options(",".join(extra)),
        }
    return {"Type": "volume", "Name": source, "Destination": os.path.normpath(target), "RW": rw}


def check_duplicate_mounts(host: dict[str, Any]) -> None:
    seen: set[str] = set()
    dests = [b["Destination"] for b in parse_binds([x for x in host.get("Binds") or () if x])]
    dests += [m["Destination"] for m in parse_mounts(host.get("Mounts") or [])]
    dests += [os.path.normpath(d) for d in host.get("Tmpfs") or {}]
    for dest in dests:
        if dest in seen:
            raise InvalidArgument(f"Duplicate mount point: {dest}")
        seen.add(dest)


TMPFS_DEFAULTS = ["noexec", "nosuid", "nodev"]


def parse_tmpfs(tmpfs: dict[str, str]) -> list[dict[str, Any]]:
    """HostConfig.Tmpfs {dest: "opts"} -> [{"Destination", "Options"}] (defaults merged, sorted)."""
    out = []
    for dest in sorted(tmpfs):
        # moby's ValidateTmpfsMountDestination, its words without a mount-config prefix
        if dest == "/":
            raise InvalidArgument("invalid specification: destination can't be '/'")
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid mount path: '{dest}' mount path must be absolute")
        out.append({"Destination": dest, "Options": merge_tmpfs_options(tmpfs[dest] or "")})
    return out


_FLAG_OPPOSITES = {
    "exec": "noexec", "noexec": "exec", "suid": "nosuid", "nosuid": "suid",
    "dev": "nodev", "nodev": "dev",
}  # fmt: skip


def merge_tmpfs_options(text: str) -> list[str]:
    """moby's mount.MergeTmpfsOptions: defaults overridden by the user's options."""
    options = [o for o in text.split(",") if o]
    for option in options:
        key = option.split("=", 1)[0]
        if key not in _FLAG_OPPOSITES and key not in (
            "size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "ro", "rw",
            "noatime", "atime", "relatime", "strictatime", "nodiratime", "diratime", "tmpcopyup",
        ):  # fmt: skip
            raise InvalidArgument(f'invalid tmpfs option ["{option}"]')
    merged = [d for d in TMPFS_DEFAULTS if d not in options and _FLAG_OPPOSITES[d] not in options]
    return merged + options
