"""maskedPaths, readonlyPaths and a read-only root.

Observed with runc 1.1.5 (default spec; this kernel has no /proc/kcore, so the masked
*files* checked are those present on the host, e.g. /proc/keys and /proc/timer_list):
  a masked file is /dev/null bind-mounted over it (`stat -c %t:%T` -> 1:3, reads empty);
  /proc/acpi is a read-only empty tmpfs (`stat -f -c %T` -> tmpfs);
  `echo 1 > /proc/sys/kernel/domainname` -> "sh: can't create ...: Read-only file system";
  root.readonly: `touch /rootfile` -> "touch: /rootfile: Read-only file system", while a
  tmpfs mounted at /tmp stays writable.
"""

from __future__ import annotations

import os

import pytest

from support.oci_runtime import Container

pytestmark = pytest.mark.root

MASKED_FILE_CANDIDATES = [
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/timer_stats",
]


def test_masked_proc_files_read_as_dev_null(ctr: Container) -> None:
    present = [p for p in MASKED_FILE_CANDIDATES if os.path.isfile(p)]
    if not present:
        pytest.skip("none of the default masked /proc files exists on this kernel")
    assert all(p in ctr.spec["linux"]["maskedPaths"] for p in present)
    script = "; ".join(f"echo {p}=$(stat -c %t:%T {p}):$(wc -c < {p})" for p in present)
    ctr.sh(script)
    res = ctr.run().check()
    for p in present:
        assert f"{p}=1:3:0\n" in res.stdout, res.describe()


def test_masked_file_in_rootfs_reads_empty(ctr: Container) -> None:
    assert (ctr.rootfs / "etc" / "hostname").read_text()  # non-empty on the host
    ctr.spec["linux"]["maskedPaths"].append("/etc/hostname")
    ctr.sh("echo size=$(wc -c < /etc/hostname); echo group=$(wc -c < /etc/group)")
    res = ctr.run().check()
    assert "size=0\n" in res.stdout
    assert "group=0\n" not in res.stdout


def test_masked_proc_directory_is_an_empty_tmpfs(ctr: Container) -> None:
    if not os.path.isdir("/proc/acpi"):
        pytest.skip("/proc/acpi does not exist on this host")
    ctr.sh("echo fs=$(stat -f -c %T /proc/acpi); echo entries=$(ls -A /proc/acpi | wc -l)")
    res = ctr.run().check()
    assert "fs=tmpfs\n" in res.stdout, res.describe()
    assert "entries=0\n" in res.stdout, res.describe()


def test_readonly_proc_sys_rejects_writes(ctr: Container) -> None:
    ctr.sh(
        "echo probe > /proc/sys/kernel/domainname; echo rc=$?; "
        "echo 1 > /proc/sysrq-trigger; echo rc2=$?; "
        "grep -E ' /proc/sys ' /proc/self/mountinfo"
    )
    res = ctr.run().check()
    assert "rc=1\n" in res.stdout, res.describe()
    assert "rc2=1\n" in res.stdout, res.describe()
    assert "Read-only file system" in res.stderr
    mount_opts = res.stdout.strip().splitlines()[-1].split()[5]
    assert "ro" in mount_opts.split(","), res.stdout


def test_readonly_root_with_writable_tmpfs(ctr: Container) -> None:
    assert ctr.spec["root"]["readonly"] is True
    ctr.add_tmpfs("/tmp")
    ctr.sh("touch /rootfile; echo root=$?; touch /tmp/ok && echo tmp=$?")
    res = ctr.run().check()
    assert "root=1\n" in res.stdout, res.describe()
    assert "Read-only file system" in res.stderr
    assert "tmp=0\n" in res.stdout
    assert not (ctr.rootfs / "rootfile").exists()


def test_writable_root_when_not_readonly(ctr: Container) -> None:
    ctr.spec["root"]["readonly"] = False
    ctr.sh("touch /rootfile && echo root-ok")
    res = ctr.run().check()
    assert "root-ok" in res.stdout
    assert (ctr.rootfs / "rootfile").exists()
