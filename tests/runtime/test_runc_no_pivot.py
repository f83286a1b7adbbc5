"""Differential: `--no-pivot`, runc vs ours.

With --no-pivot the root is moved (MS_MOVE + chroot) instead of pivoted. Observed with runc
1.1.5, and the same with ours: a container with every capability cannot mount a fresh procfs
(the kernel refuses a proc mount while no unmasked /proc is fully visible in the mount
namespace), sees the same mount points, and the masked /proc/kcore stays masked.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from conftest import MakeBoth
from support.oci_runtime import CAPABILITIES, parse_proc_status_caps

# every capability this host lets us have (root here lacks CAP_SYS_RESOURCE)
BOUNDING = parse_proc_status_caps(Path("/proc/self/status").read_text())["CapBnd"]


@pytest.mark.parametrize(
    "script",
    [
        "mkdir -p /tmp/p; mount -t proc proc /tmp/p 2>/dev/null && echo mounted || echo refused",
        # (ours also mounts the hybrid host's cgroup2 at /sys/fs/cgroup/unified; runc does not)
        "cut -d' ' -f5 /proc/self/mountinfo | grep -v '^/sys/fs/cgroup/unified$' | sort",
        "[ -s /proc/kcore ] && echo kcore-visible || echo kcore-masked",
    ],
    ids=["fresh-proc", "mounts", "masked"],
)
def test_no_pivot_like_runc(both: MakeBoth, script: str) -> None:
    got = {}
    for name, c in both("sh", "-c", script).items():
        caps = ["CAP_" + n for i, n in enumerate(CAPABILITIES) if BOUNDING >> i & 1]
        sets = ("bounding", "effective", "permitted")
        c.spec["process"]["capabilities"] = {k: caps for k in sets}
        got[name] = c.run("--no-pivot")
    runc, ours = got["runc"], got["wharfie"]
    detail = f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    assert ours.returncode == runc.returncode == 0, detail
    diff = "\n".join(difflib.unified_diff(runc.stdout.splitlines(), ours.stdout.splitlines()))
    assert ours.stdout == runc.stdout, f"runc -> ours:\n{diff}"
    if "mount -t proc" in script:
        assert ours.stdout == "refused\n", detail
    if "kcore" in script:
        assert ours.stdout == "kcore-masked\n", detail
