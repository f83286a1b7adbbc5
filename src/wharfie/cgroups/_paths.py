"""linux.cgroupsPath -> the container's directory in every hierarchy (runc's cgroupfs rules).

Verified against runc 1.1.5 on the hybrid host (see tests/unit/test_cgroups_paths.py):

* absolute ("/a/b"): <mount point>/a/b in each hierarchy;
* relative ("a/b"): below the cgroup of the calling process in each hierarchy, per
  /proc/self/cgroup (memory:/x/y -> <memory mount>/x/y/a/b) -- on a pure v2 host runc
  uses the *parent* of its own cgroup (its own one usually holds processes, so its
  children could not get controllers), and so do we;
* empty or absent: the container id, as a relative path (runc sets Name=<id>);
* "." and ".." are resolved; runc silently clamps ".." at the root, we refuse a path that
  escapes its root, and one that names the root itself.
"""

from __future__ import annotations

import os.path

from wharfie.errors import InvalidArgument, Unavailable

from ._base import Hierarchy

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._mounts import Layout, Mount

FIELD = "linux.cgroupsPath"


def inner_path(cgroups_path: str | None, container_id: str) -> str:
    """The normalised cgroup path: "/a/b" (absolute) or "a/b" (relative to our own)."""
    if not cgroups_path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise InvalidArgument(f"container id {container_id!r} cannot name a cgroup")
        return container_id
    if "\0" in cgroups_path or "\n" in cgroups_path:
        raise InvalidArgument(f"{FIELD}: {cgroups_path!r} contains a NUL or newline")
    parts: list[str] = []
    for part in cgroups_path.split("/"):
        if part == "..":
            if not parts:
                raise InvalidArgument(f"{FIELD}: {cgroups_path!r} escapes the cgroup root")
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    if not parts:
        raise InvalidArgument(f"{FIELD}: {cgroups_path!r} names the root cgroup itself")
    joined = "/".join(parts)
    return "/" + joined if cgroups_path.startswith("/") else joined


def _strip_mount_root(path: str, mount: Mount) -> str:
    """A cgroup path from /proc/self/cgroup, relative to what the mount shows."""
    root = mount.root
    if root == "/":
        return path
    if path == root:
        return "/"
    if path.startswith(root + "/"):
        return path[len(root) :]
    raise Unavailable(
        f"{FIELD}: our own cgroup {path} is outside the hierarchy mounted at "
        f"{mount.mountpoint} (which shows {root}); use an absolute cgroupsPath"
    )


def _relpath(mount: Mount, inner: str, own: Mapping[str, str] | None, parent: bool) -> str:
    if inner.startswith("/"):
        return inner
    key = mount.controllers[0] if mount.controllers else ""
    if own is None or key not in own:
        raise Unavailable(
            f"{FIELD}: relative path {inner!r} needs our own {key or 'cgroup2'} cgroup, "
            "which /proc/self/cgroup does not list"
        )
    base = own[key]
    if parent:
        base = os.path.dirname(base)
    return _strip_mount_root(base, mount).rstrip("/") + "/" + inner


def _hierarchy(mount: Mount, name: str, relpath: str) -> Hierarchy:
    fstype = mount.fstype
    return Hierarchy(name, fstype, mount.options, mount.mountpoint + relpath, relpath)


def hierarchies_for(layout: Layout, inner: str, own: Mapping[str, str] | None) -> list[Hierarchy]:
    """The container's Hierarchy in every mounted hierarchy of `layout`."""
    out = []
    for m in layout.v1:
        rel = _relpath(m, inner, own, parent=False)
        out.append(_hierarchy(m, os.path.basename(m.mountpoint), rel))
    if layout.unified is not None:
        v2 = layout.kind == "v2"
        rel = _relpath(layout.unified, inner, own, parent=v2)
        name = "" if v2 else os.path.basename(layout.unified.mountpoint)
        out.append(_hierarchy(layout.unified, name, rel))
    return out


def _check_saved_path(key: object, path: object, root: str) -> str:
    field = f"state paths[{key!r}]"
    if not isinstance(key, str) or not isinstance(path, str):
        raise InvalidArgument(f"{field}: keys and paths must be strings, got {path!r}")
    if not path.startswith(root + "/") or os.path.normpath(path) != path:
        raise InvalidArgument(f"{field}: {path!r} is not a normalised path below {root}")
    return path


def _mount_for(layout: Layout, key: str, path: str) -> tuple[str, str]:
    """(mount point, fstype) of a saved path, from today's layout or a good guess."""
    mount = layout.unified if key == "" else layout.v1_mount(key)
    fstype = "cgroup2" if key == "" else "cgroup"
    if mount is not None and path.startswith(mount.mountpoint + "/"):
        return mount.mountpoint, fstype
    if key == "" and layout.kind == "v2":
        return layout.root, fstype
    first = path[len(layout.root) + 1 :].split("/", 1)[0]
    return layout.root + "/" + first, fstype


def hierarchies_from_paths(layout: Layout, paths: Mapping[str, str]) -> list[Hierarchy]:
    """Rebuild Hierarchy values from `Cgroup.paths` as saved in state.json ({} -> [])."""
    if not isinstance(paths, dict):
        raise InvalidArgument(f"cgroup paths must be an object, got {paths!r}")
    out = []
    for key in sorted(paths):
        path = _check_saved_path(key, paths[key], layout.root)
        mountpoint, fstype = _mount_for(layout, key, path)
        name = "" if mountpoint == layout.root else os.path.basename(mountpoint)
        out.append(Hierarchy(name, fstype, key, path, path[len(mountpoint) :]))
    out.sort(key=lambda h: (h.fstype == "cgroup2", h.mountpoint))
    return out
