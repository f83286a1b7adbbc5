"""The config.json `wharfie-runtime spec` writes: runc 1.1's template, byte for byte.

runc renders its template with Go's `json.MarshalIndent(spec, "", "\\t")` and no trailing
newline; `render` reproduces that (keys in the Go structs' order). With `--rootless`,
runc's `specconv.ToRootless` changes apply: no network namespace, a user namespace mapping
root to the caller's euid/egid, /sys bind-mounted from the host, no `gid=5` on devpts and
no device rules.
"""

from __future__ import annotations

import os

from wharfie.oci.defaults import DEFAULT_CAPS, default_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def runc_template(rootless: bool = False) -> dict[str, Any]:
    """runc 1.1's `runc spec` template (with `--rootless`: its rootless variant): our default
    spec with runc's hostname, ambient capabilities and no cgroup namespace (key order kept)."""
    spec = default_spec(hostname="runc")
    spec["process"]["capabilities"]["ambient"] = list(DEFAULT_CAPS)
    linux = spec["linux"]
    linux["namespaces"] = [ns for ns in linux["namespaces"] if ns["type"] != "cgroup"]
    if rootless:
        _to_rootless(spec)
    return spec


def _to_rootless(spec: dict[str, Any]) -> None:
    linux = spec["linux"]
    namespaces = [ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")]
    namespaces.append({"type": "user"})
    mounts = []
    for m in spec["mounts"]:
        if m["destination"] == "/sys":
            m = {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        elif m["type"] == "devpts":
            m = {**m, "options": [o for o in m["options"] if not o.startswith("gid=")]}
        mounts.append(m)
    spec["mounts"] = mounts
    spec["linux"] = {
        "uidMappings": [{"containerID": 0, "hostID": os.geteuid(), "size": 1}],
        "gidMappings": [{"containerID": 0, "hostID": os.getegid(), "size": 1}],
        "namespaces": namespaces,
        "maskedPaths": linux["maskedPaths"],
        "readonlyPaths": linux["readonlyPaths"],
    }


def render(spec: dict[str, Any]) -> str:
    """JSON as Go's MarshalIndent with a tab writes it (no trailing newline)."""
    import json

    return json.dumps(spec, indent="\t", ensure_ascii=False)
