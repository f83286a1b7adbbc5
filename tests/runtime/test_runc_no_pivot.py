"""Differential: `--no-pivot`, runc vs ours.

With --no-pivot the root is moved (MS_MOVE + chroot) instead of pivoted. Observed with runc
1.1.5: the host's mounts outside the rootfs are not reachable from the container, and a
container with CAP_SYS_ADMIN cannot mount a fresh procfs (the kernel refuses a proc mount
while no unmasked /proc is fully visible in the mount namespace).
"""

from __future__ import annotations

import pytest

from conftest import MakeBoth
from support.oci_runtime import CAPABILITIES


@pytest.mark.parametrize(
    "script",
    [
        "mkdir -p /tmp/p; mount -t proc proc /tmp/p 2>/dev/null && echo mounted || echo refused",
        "grep -c . /proc/self/mountinfo >/dev/null && cut -d' ' -f5 /proc/self/mountinfo | sort",
        "cat /proc/kcore 2>&1 | head -c 0; ls /proc/kcore >/dev/null 2>&1 && echo kcore-visible",
    ],
    ids=["fresh-proc", "mounts", "masked"],
)
def test_no_pivot_like_runc(both: MakeBoth, script: str) -> None:
    got = {}
    for name, c in both("sh", "-c", script).items():
        caps = ["CAP_" + n for n in CAPABILITIES[:41]]
        c.spec["process"]["capabilities"] = {
            k: caps for k in ("bounding", "effective", "permitted")
        }
        got[name] = c.run("--no-pivot")
    runc, ours = got["runc"], got["wharfie"]
    detail = f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    assert ours.returncode == runc.returncode, detail
    assert ours.stdout == runc.stdout, detail
