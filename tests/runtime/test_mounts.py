"""Mounts: bind (ro, rbind vs bind, files), nosuid/nodev/noexec, tmpfs options,
propagation, the standard /dev, and a read-only sysfs.

Observed with runc 1.1.5:
  a ro bind: `touch /data/new` -> "touch: /data/new: Read-only file system";
  "rbind" carries a host submount into the container, "bind" does not;
  exec from a noexec bind: `/xbin/busybox true` -> "sh: /xbin/busybox: Permission denied",
  exit 126; mountinfo shows "nosuid,nodev,noexec" for it;
  tmpfs size=2m: `df -k` total 2048; mode=700 -> 700;
  host dir made shared, bound with rslave: a later host mount under it appears inside
  (mountinfo "master:N"); with rprivate it does not (no shared/master tag);
  /dev: null 1,3 zero 1,5 full 1,7 random 1,8 urandom 1,9 tty 5,0 (char devices), ptmx ->
  pts/ptmx, fd -> /proc/self/fd, stdin/stdout/stderr -> /proc/self/fd/0,1,2; /dev/pts devpts,
  /dev/shm tmpfs, /dev/mqueue mqueue; /sys is sysfs "ro" and `touch /sys/x` fails (EROFS).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.oci_runtime import Container, MakeContainer

pytestmark = pytest.mark.root


def bind(src: Path, dest: str, *options: str) -> dict[str, object]:
    return {"destination": dest, "type": "bind", "source": str(src), "options": list(options)}


def mountinfo_line(output: str, target: str) -> list[str]:
    for line in output.splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4] == target:
            return fields
    raise AssertionError(f"{target} not in mountinfo:\n{output}")


def optional_fields(fields: list[str]) -> list[str]:
    """The propagation tags (shared:N, master:N, ...) of a mountinfo line."""
    return fields[6 : fields.index("-")]


def host_mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextlib.contextmanager
def host_mounted(target: Path, *args: str) -> Iterator[Path]:
    host_mount(*args, str(target))
    try:
        yield target
    finally:
        subprocess.run(["umount", "-R", "-l", str(target)], check=False, capture_output=True)


def test_readonly_bind(ctr: Container, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "file").write_text("host-data\n")
    ctr.add_mount(bind(data, "/data", "rbind", "ro"))
    ctr.sh("cat /data/file; touch /data/new; echo rc=$?; grep ' /data ' /proc/self/mountinfo")
    res = ctr.run().check()
    assert "host-data\n" in res.stdout
    assert "rc=1\n" in res.stdout
    assert "Read-only file system" in res.stderr
    assert "ro" in mountinfo_line(res.stdout, "/data")[5].split(",")
    assert not (data / "new").exists()


def test_readwrite_bind_writes_reach_the_host(ctr: Container, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ctr.add_mount(bind(data, "/data", "rbind", "rw"))
    ctr.sh("echo from-container > /data/new")
    ctr.run().check()
    assert (data / "new").read_text() == "from-container\n"


def test_file_bind_mount(ctr: Container, tmp_path: Path) -> None:
    src = tmp_path / "motd"
    src.write_text("bound file\n")
    ctr.add_mount(bind(src, "/etc/motd", "bind", "ro"))
    ctr.sh("cat /etc/motd")
    assert ctr.run().check().stdout == "bound file\n"


def test_rbind_carries_submounts_and_bind_does_not(
    make_container: MakeContainer, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    with host_mounted(tree / "sub", "-t", "tmpfs", "-o", "size=1m", "tmpfs"):
        (tree / "sub" / "marker").write_text("submount\n")
        outputs = {}
        for option in ("rbind", "bind"):
            ctr = make_container()
            ctr.add_mount(bind(tree, "/tree", option))
            ctr.sh("cat /tree/sub/marker 2>/dev/null || echo no-marker")
            outputs[option] = ctr.run().check().stdout
    assert outputs["rbind"] == "submount\n"
    assert outputs["bind"] == "no-marker\n"


def test_nosuid_nodev_noexec(ctr: Container, tmp_path: Path) -> None:
    bins = tmp_path / "bins"
    bins.mkdir()
    shutil.copy2(ctr.rootfs / "bin" / "busybox", bins / "busybox")
    ctr.add_mount(bind(bins, "/xbin", "rbind", "nosuid", "nodev", "noexec"))
    ctr.add_mount(bind(bins, "/ybin", "rbind"))
    ctr.sh(
        "/xbin/busybox true; echo noexec-rc=$?; /ybin/busybox echo exec-ok; "
        "grep -E ' /xbin ' /proc/self/mountinfo"
    )
    res = ctr.run().check()
    assert "noexec-rc=126\n" in res.stdout, res.describe()
    assert "Permission denied" in res.stderr
    assert "exec-ok\n" in res.stdout
    opts = set(mountinfo_line(res.stdout, "/xbin")[5].split(","))
    assert {"nosuid", "nodev", "noexec"} <= opts, opts


def test_tmpfs_size_and_mode(ctr: Container) -> None:
    ctr.add_tmpfs("/scratch", "nosuid", "size=2m", "mode=700")
    ctr.sh("df -k /scratch | tail -n 1; stat -c %a /scratch; stat -f -c %T /scratch")
    res = ctr.run().check()
    df, mode, fstype = res.stdout.splitlines()
    assert df.split()[1] == "2048", res.stdout
    assert mode == "700"
    assert fstype == "tmpfs"


def test_bind_propagation_rprivate_vs_rslave(make_container: MakeContainer, tmp_path: Path) -> None:
    prop = tmp_path / "prop"
    (prop / "late").mkdir(parents=True)
    with host_mounted(prop, "--bind", str(prop)):
        host_mount("--make-shared", str(prop))
        ctrs = {}
        for mode in ("rprivate", "rslave"):
            ctr = make_container("sleep", "1000")
            ctr.add_mount(bind(prop, "/prop", "rbind", mode))
            ctr.run_detached().check()
            ctrs[mode] = ctr
        with host_mounted(prop / "late", "-t", "tmpfs", "-o", "size=1m", "tmpfs"):
            (prop / "late" / "marker").write_text("late mount\n")
            seen = {
                mode: ctr.exec(
                    "sh", "-c", "cat /prop/late/marker 2>/dev/null || echo absent; "
                    "grep ' /prop ' /proc/self/mountinfo"
                ).check().stdout
                for mode, ctr in ctrs.items()
            }  # fmt: skip
    assert seen["rslave"].startswith("late mount\n"), seen
    assert seen["rprivate"].startswith("absent\n"), seen
    private_tags = optional_fields(mountinfo_line(seen["rprivate"], "/prop"))
    slave_tags = optional_fields(mountinfo_line(seen["rslave"], "/prop"))
    assert not any(t.startswith(("shared:", "master:")) for t in private_tags), seen
    assert any(t.startswith("master:") for t in slave_tags), seen


CHAR_DEVICES = {
    "null": "1,3",
    "zero": "1,5",
    "full": "1,7",
    "random": "1,8",
    "urandom": "1,9",
    "tty": "5,0",
}
DEV_LINKS = {
    "ptmx": "pts/ptmx",
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}


def test_standard_dev(ctr: Container) -> None:
    script = "; ".join(
        [f"echo {d}=$(stat -c '%F:%t,%T' /dev/{d})" for d in CHAR_DEVICES]
        + [f"echo {link}=$(readlink /dev/{link})" for link in DEV_LINKS]
        + ["echo devmounts; grep -E ' /dev(/pts|/shm|/mqueue)? ' /proc/self/mountinfo"]
        + ["head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok"]
    )
    ctr.sh(script)
    res = ctr.run().check()
    values = dict(
        line.split("=", 1) for line in res.stdout.split("devmounts")[0].split("\n") if "=" in line
    )
    for name, numbers in CHAR_DEVICES.items():
        kind, _, majmin = values[name].partition(":")
        assert kind == "character special file", (name, values[name])
        major, minor = (int(x, 16) for x in majmin.split(","))
        assert f"{major},{minor}" == numbers, (name, values[name])
    for link, target in DEV_LINKS.items():
        assert values[link] == target, (link, values[link])
    mounts = res.stdout.split("devmounts")[1]
    assert mountinfo_line(mounts, "/dev")[-3] == "tmpfs"
    assert mountinfo_line(mounts, "/dev/pts")[-3] == "devpts"
    assert mountinfo_line(mounts, "/dev/shm")[-3] == "tmpfs"
    assert mountinfo_line(mounts, "/dev/mqueue")[-3] == "mqueue"
    assert "4\nnull-ok\n" in res.stdout


def test_no_host_devices_in_dev(ctr: Container) -> None:
    ctr.sh("ls /dev")
    res = ctr.run().check()
    entries = set(res.stdout.split())
    assert entries & {"vda", "sda", "nvme0n1", "kmsg", "mem"} == set(), entries


def test_sysfs_is_read_only(ctr: Container) -> None:
    ctr.sh("grep ' /sys ' /proc/self/mountinfo; touch /sys/x; echo rc=$?")
    res = ctr.run().check()
    fields = mountinfo_line(res.stdout, "/sys")
    assert "ro" in fields[5].split(",")
    assert fields[-3] == "sysfs"
    assert "rc=1\n" in res.stdout
    assert "Read-only file system" in res.stderr


def test_missing_destination_is_created_under_a_readonly_root(ctr: Container) -> None:
    assert ctr.spec["root"]["readonly"]
    ctr.add_tmpfs("/new/deep/dir")
    ctr.sh("touch /new/deep/dir/ok && echo made")
    assert ctr.run().check().stdout == "made\n"
