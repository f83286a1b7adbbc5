"""Differential: spec corners run against runc 1.1 and wharfie-runtime, results compared.

Each scenario changes the same busybox bundle for both runtimes, runs `run` in the
foreground and compares the exit status and stdout (and that ours printed no traceback).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import MakeBoth
from support.oci_runtime import Container

Scenario = Callable[[Container], None]


def _bind(c: Container, dest: str, *options: str, source: Path | None = None) -> Path:
    src = source or c.bundle / ("src" + dest.replace("/", "-"))
    if source is None:
        src.mkdir(exist_ok=True)
        (src / "file").write_text("x\n")
    c.add_mount({"destination": dest, "type": "bind", "source": str(src), "options": list(options)})
    return src


def rro(c: Container) -> None:
    src = _bind(c, "/data", "rbind", "rro")
    (src / "sub").mkdir(exist_ok=True)
    c.extra_paths.append(src)
    c.sh(
        "touch /data/new 2>/dev/null && echo wrote || echo refused; grep -c ' /data ' /proc/mounts"
    )


def unknown_tmpfs_option(c: Container) -> None:
    c.add_tmpfs("/scratch", "bogusopt")
    c.sh("echo ran")


def tmpfs_mode(c: Container) -> None:
    c.add_tmpfs("/scratch", "mode=0700", "size=1m")
    c.sh("stat -c %a /scratch")


def tmpcopyup(c: Container) -> None:
    (c.rootfs / "etc" / "seed").write_text("seeded\n")
    c.add_tmpfs("/etc", "tmpcopyup", "size=4m")
    c.sh("cat /etc/seed; touch /etc/new && echo writable")


def ro_dev_bind(c: Container) -> None:
    c.spec["mounts"] = [m for m in c.spec["mounts"] if m["destination"] != "/dev"]
    c.add_mount(
        {"destination": "/dev", "type": "bind", "source": "/dev", "options": ["rbind", "ro"]}
    )
    c.sh("touch /dev/x 2>/dev/null && echo wrote || echo refused")


def proc_symlink(c: Container) -> None:
    (c.rootfs / "proc").rmdir()
    (c.rootfs / "proc").symlink_to("/tmp")
    c.sh("echo ran")


def sys_symlink(c: Container) -> None:
    (c.rootfs / "sys").rmdir()
    (c.rootfs / "sys").symlink_to("/tmp")
    c.sh("echo ran")


def masked_symlink(c: Container) -> None:
    (c.rootfs / "etc" / "masklink").symlink_to("/etc/passwd")
    c.spec["linux"]["maskedPaths"].append("/etc/masklink")
    c.sh("cat /etc/passwd | head -1")


def bad_hugepage(c: Container) -> None:
    c.spec["linux"]["resources"]["hugepageLimits"] = [{"pageSize": "3MB", "limit": 1 << 21}]
    c.sh("echo ran")


def unified_on_v1(c: Container) -> None:
    c.spec["linux"]["resources"]["unified"] = {"memory.max": "10000000"}
    c.sh("echo ran")


def no_mount_ns(c: Container) -> None:
    c.spec["linux"]["namespaces"] = [
        n for n in c.spec["linux"]["namespaces"] if n["type"] not in ("mount", "network")
    ]
    c.spec["mounts"] = []
    c.spec["linux"]["maskedPaths"] = []
    c.spec["linux"]["readonlyPaths"] = []
    c.spec["root"]["readonly"] = False
    c.sh("echo ran")


def no_net_ns(c: Container) -> None:
    c.spec["linux"]["namespaces"] = [
        n for n in c.spec["linux"]["namespaces"] if n["type"] != "network"
    ]
    me = os.stat("/proc/self/ns/net").st_ino
    c.sh(f"[ $(stat -L -c %i /proc/1/ns/net) -gt 0 ] && readlink /proc/self/ns/net | grep -c {me}")


SCENARIOS: dict[str, Scenario] = {
    "rro": rro,
    "unknown-tmpfs-option": unknown_tmpfs_option,
    "tmpfs-mode": tmpfs_mode,
    "tmpcopyup": tmpcopyup,
    "ro-dev-bind": ro_dev_bind,
    "proc-symlink": proc_symlink,
    "sys-symlink": sys_symlink,
    "bad-hugepage-size": bad_hugepage,
    "unified-on-v1": unified_on_v1,
    "no-net-ns": no_net_ns,
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_same_as_runc(both: MakeBoth, name: str) -> None:
    if name == "unified-on-v1" and not Path("/sys/fs/cgroup/memory/cgroup.procs").exists():
        pytest.skip("needs a v1 memory controller (v1 or hybrid host)")
    got = {}
    for rt_name, c in both().items():
        SCENARIOS[name](c)
        got[rt_name] = c.run()
    runc, ours = got["runc"], got["wharfie"]
    detail = f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    assert ours.returncode == runc.returncode, detail
    assert ours.stdout == runc.stdout, detail
    assert "Traceback" not in ours.stderr
    if runc.returncode != 0:
        assert len(ours.stderr.strip().splitlines()) == 1, detail


@pytest.mark.parametrize("option", ["bogusopt", "rro "])
def test_unknown_bind_option_is_an_error(both: MakeBoth, option: str) -> None:
    """runc 1.1 ignores options it does not know on a bind mount (a bind has no filesystem
    to refuse them); we refuse them, so that a typo cannot leave a mount writable."""
    got = {}
    for rt_name, c in both().items():
        _bind(c, "/data", "rbind", option)
        c.sh("echo ran")
        got[rt_name] = c.run()
    assert got["runc"].returncode == 0 and got["runc"].stdout == "ran\n"
    ours = got["wharfie"]
    assert ours.returncode == 1 and ours.stdout == "", ours.describe()
    assert repr(option) in ours.stderr or f'"{option}"' in ours.stderr, ours.stderr
    assert len(ours.stderr.strip().splitlines()) == 1 and "Traceback" not in ours.stderr


@pytest.mark.parametrize("option", ["ro", "rro"])
def test_rro_covers_submounts(make_container: Callable[..., Container], option: str) -> None:
    """rbind of a tree holding a submount: "ro" leaves the submount writable, "rro" makes every
    mount below the destination read-only (mount_setattr AT_RECURSIVE)."""
    c = make_container()
    tree = c.bundle / "tree"
    (tree / "inner").mkdir(parents=True)
    c.add_mount({"destination": "/tree", "type": "bind", "source": str(tree), "options": ["rbind"]})
    c.add_tmpfs("/tree/inner", "size=1m")
    # the rootfs's /tree, as mounted above inside the container: it has the tmpfs below it
    inside = str(c.rootfs / "tree")
    c.add_mount(
        {"destination": "/ro", "type": "bind", "source": inside, "options": ["rbind", option]}
    )
    c.extra_paths.append(tree)
    c.sh(
        "touch /tree/inner/x && echo rw-ok; touch /ro/x 2>/dev/null || echo top-ro;"
        "touch /ro/inner/y 2>/dev/null && echo inner-rw || echo inner-ro"
    )
    res = c.run()
    assert res.returncode == 0, res.describe()
    inner = "inner-ro" if option == "rro" else "inner-rw"
    assert res.stdout == f"rw-ok\ntop-ro\n{inner}\n"


# Where we part from runc 1.1.5 on purpose (observed with it: see each test).


def test_masked_symlink_is_refused(both: MakeBoth) -> None:
    """runc 1.1.5 follows a masked path that is a symlink and masks its target (here
    /etc/passwd comes out empty); newer runc and we refuse the container instead."""
    got = {}
    for rt_name, c in both().items():
        masked_symlink(c)
        got[rt_name] = c.run()
    assert got["runc"].returncode == 0 and got["runc"].stdout == ""
    ours = got["wharfie"]
    assert ours.returncode == 1 and "masked path /etc/masklink is a symbolic link" in ours.stderr
    assert len(ours.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("with_mounts", [False, True])
def test_missing_mount_namespace_is_inherited(both: MakeBoth, with_mounts: bool) -> None:
    """No "mount" namespace: the caller's is inherited and the init only chroots. runc 1.1.5
    fails there ("error closing exec fds: open /proc/self/fd") and leaves its rootfs bind
    mount behind in the host; we run it, and refuse what would need mounting."""
    got = {}
    for rt_name, c in both().items():
        no_mount_ns(c)
        if with_mounts:
            c.add_tmpfs("/scratch")
        got[rt_name] = c.run()
        if rt_name == "runc":
            subprocess.run(["umount", "-l", str(c.rootfs)], capture_output=True, check=False)
    assert got["runc"].returncode == 1
    ours = got["wharfie"]
    if with_mounts:
        assert ours.returncode == 1, ours.describe()
        assert "has no mount namespace of its own, so mounts cannot be applied" in ours.stderr
    else:
        assert ours.returncode == 0 and ours.stdout == "ran\n", ours.describe()


@pytest.mark.parametrize("options", [["rbind"], ["rbind", "ro"], ["rbind", "nosuid", "ro"]])
def test_rbind_of_a_tree_holding_read_only_mounts(both: MakeBoth, options: list[str]) -> None:
    """The source tree holds a read-only (nosuid, nodev) mount: the rbind must not fail on
    the locked flags, and the read-only submount stays read-only."""
    got = {}
    for rt_name, c in both().items():
        tree = c.bundle / "rotree"
        (tree / "sub").mkdir(parents=True)
        sub = str(tree / "sub")
        subprocess.run(["mount", "--bind", sub, sub], check=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro,nosuid,nodev", sub, sub], check=True)
            c.add_mount(
                {"destination": "/t", "type": "bind", "source": str(tree), "options": options}
            )
            c.sh(
                "touch /t/x 2>/dev/null && echo top-rw || echo top-ro;"
                "touch /t/sub/x 2>/dev/null && echo sub-rw || echo sub-ro"
            )
            got[rt_name] = c.run()
        finally:
            subprocess.run(["umount", "-l", sub], check=False)
    runc, ours = got["runc"], got["wharfie"]
    detail = f"runc:\n{runc.describe()}\nours:\n{ours.describe()}"
    assert ours.returncode == runc.returncode == 0, detail
    assert ours.stdout == runc.stdout, detail
    assert ours.stdout.endswith("sub-ro\n")


def _idmap_source(tmp_path: Path, runtime: str) -> Path:
    src = tmp_path / f"idmap-src-{runtime}"
    src.mkdir()
    for name, owner in (("root-file", 0), ("u1000-file", 1000), ("u100005-file", 100005)):
        (src / name).write_text(name)
        os.chown(src / name, owner, owner)
    return src


IDMAP_SCRIPT = "ls -ln /m | awk 'NR > 1 {print $9, $3, $4}'; touch /m/x 2>&1 | cut -d: -f3"


@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_idmapped_bind_mount_as_crun(with_crun: MakeBoth, tmp_path: Path, option: str) -> None:
    """runc 1.1.5 ignores `idmap` (the files keep their ids); crun 1.8.1 and we make an
    idmapped mount with the mount's uidMappings/gidMappings, written as a user namespace's
    (containerID hostID size): on-disk 0 shows as 1000, on-disk 1000 as nobody."""
    got = {}
    for name, c in with_crun("sh", "-c", IDMAP_SCRIPT).items():
        src = _idmap_source(tmp_path, name)
        mapping = [{"containerID": 0, "hostID": 1000, "size": 10}]
        c.spec["mounts"].append(
            {
                "destination": "/m",
                "type": "bind",
                "source": str(src),
                "options": ["rbind", option, "ro"],
                "uidMappings": mapping,
                "gidMappings": mapping,
            }
        )
        got[name] = c.run()
    ref, ours = got["crun"], got["wharfie"]
    detail = f"crun:\n{ref.describe()}\nours:\n{ours.describe()}"
    assert ref.returncode == ours.returncode, detail
    assert ours.stdout == ref.stdout, detail
    assert "root-file 1000 1000\nu1000-file 65534 65534\n" in ours.stdout, detail
    assert "Read-only file system" in ours.stdout, detail


def test_idmapped_mount_in_a_user_namespace_as_crun(with_crun: MakeBoth, tmp_path: Path) -> None:
    """Without mappings of its own the mount takes the container's: its root sees the
    on-disk root's files as its own."""
    tmp_path.chmod(0o755)
    mapping = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    got = {}
    for name, c in with_crun("sh", "-c", IDMAP_SCRIPT, world_traversable=True).items():
        src = _idmap_source(tmp_path, name)
        src.chmod(0o755)
        c.spec["linux"]["namespaces"].append({"type": "user"})
        c.spec["linux"]["uidMappings"] = mapping
        c.spec["linux"]["gidMappings"] = mapping
        for root, dirs, files in os.walk(c.bundle / "rootfs"):
            for n in dirs + files:
                os.lchown(os.path.join(root, n), 100000, 100000)
        os.chown(c.bundle / "rootfs", 100000, 100000)
        c.spec["mounts"] = [m for m in c.spec["mounts"] if m.get("type") != "cgroup"]
        c.spec["mounts"].append(
            {"destination": "/m", "type": "bind", "source": str(src), "options": ["bind", "idmap"]}
        )
        got[name] = c.run()
    ref, ours = got["crun"], got["wharfie"]
    detail = f"crun:\n{ref.describe()}\nours:\n{ours.describe()}"
    assert ref.returncode == ours.returncode, detail
    assert ours.stdout == ref.stdout, detail
    assert "root-file 0 0\nu1000-file 1000 1000\nu100005-file 65534 65534\n" in ours.stdout


def test_idmap_without_a_mapping_is_refused(make_container: Callable[..., Container]) -> None:
    c = make_container("true")
    _bind(c, "/data", "rbind", "idmap")
    res = c.run()
    assert res.returncode == 1, res.describe()
    assert "an idmapped mount needs uidMappings and gidMappings" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
