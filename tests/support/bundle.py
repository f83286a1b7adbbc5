"""Offline busybox rootfs and OCI bundles for tests, from Debian's busybox-static.

`busybox_rootfs(dest)` lays out a minimal root filesystem: the static busybox
binary, one symlink per applet in /bin, /etc/passwd and /etc/group with a couple
of users, and the empty directories a container expects. `make_bundle` puts such
a rootfs beside a config.json derived from the default spec.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from wharfie.oci.defaults import default_spec

BUSYBOX = Path(os.environ.get("WHARFIE_BUSYBOX", "/bin/busybox"))

PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "test:x:1000:1000:test user:/home/test:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/home:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\ntest:x:1000:\nextra:x:1001:test\nnogroup:x:65534:\n"


class BusyboxMissing(RuntimeError):
    pass


def busybox_applets() -> list[str]:
    if not BUSYBOX.exists():
        raise BusyboxMissing(f"{BUSYBOX} not found: install Debian's busybox-static")
    out = subprocess.run([str(BUSYBOX), "--list"], check=True, capture_output=True, text=True)
    return [a for a in out.stdout.split() if a and a != "busybox"]


def busybox_rootfs(dest: Path) -> Path:
    """Create a busybox root filesystem at `dest` (which must not exist yet)."""
    dest.mkdir(parents=True)
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "home/test", "var", "usr"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").chmod(0o1777)
    shutil.copy2(BUSYBOX, dest / "bin" / "busybox")
    for applet in busybox_applets():
        link = dest / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    (dest / "etc" / "hostname").write_text("busybox\n")
    return dest


def clone_rootfs(template: Path, dest: Path) -> Path:
    """Copy a prepared rootfs (symlinks kept as links, ownership and modes kept)."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def bundle_spec(args: list[str], *, terminal: bool = False, **overrides: Any) -> dict[str, Any]:
    spec = default_spec(hostname="busybox")
    spec["process"]["args"] = list(args)
    spec["process"]["terminal"] = terminal
    for key, value in overrides.items():
        spec[key] = value
    return spec


def make_bundle(bundle: Path, rootfs_template: Path, spec: dict[str, Any]) -> Path:
    """Create `bundle/` holding a copy of the rootfs and `config.json` from `spec`."""
    bundle.mkdir(parents=True, exist_ok=True)
    clone_rootfs(rootfs_template, bundle / "rootfs")
    write_spec(bundle, spec)
    return bundle


def write_spec(bundle: Path, spec: dict[str, Any]) -> None:
    (bundle / "config.json").write_text(json.dumps(spec, indent=2))
