"""The pure parts of the container's view (engine/containerfs.py) and of diff's init-layer
rules (images/archive.py): which mount holds a path, PUT's read-only rules, mount order,
what docker diff leaves out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wharfie.engine import containerfs
from wharfie.engine.containerfs import Bind
from wharfie.errors import Conflict
from wharfie.images import archive

BINDS = [
    Bind("/h/vol", "/data", True),
    Bind("/h/ro", "/data/ro", False),
    Bind("/h/cfg", "/etc/app/", False),
    Bind("/h/hosts", "/etc/hosts", True, volume=False),
]


@pytest.mark.parametrize(
    ("inside", "source"),
    [
        ("/data", "/h/vol"),
        ("/data/x/y", "/h/vol"),
        ("/data/ro", "/h/ro"),
        ("/data/ro/deep", "/h/ro"),
        ("/data/rox", "/h/vol"),  # a sibling name, not under /data/ro
        ("/etc/app", "/h/cfg"),
        ("/etc/hosts", None),  # the engine's files are not user volumes
        ("/dat", None),
        ("/", None),
    ],
)
def test_covering(inside: str, source: str | None) -> None:
    b = containerfs.covering(BINDS, inside)
    assert (b.source if b else None) == source


def test_put_rules_as_dockerd() -> None:
    containerfs.check_writable(BINDS, "/data/x", readonly_rootfs=True)  # a rw volume
    containerfs.check_writable(BINDS, "/tmp", readonly_rootfs=False)
    with pytest.raises(Conflict, match=r"^mounted volume is marked read-only$"):
        containerfs.check_writable(BINDS, "/data/ro/x", readonly_rootfs=False)
    with pytest.raises(Conflict, match=r"^container rootfs is marked read-only$"):
        containerfs.check_writable(BINDS, "/tmp", readonly_rootfs=True)


def test_mount_order_parents_first_engine_files_last() -> None:
    order = [b.destination for b in containerfs.sort_binds(list(reversed(BINDS)))]
    assert order.index("/data") < order.index("/data/ro")  # by depth, as dockerd's sortMounts
    assert order[-1] == "/etc/hosts"


def test_diff_leaves_out_the_init_layer(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in (lower / "etc", upper / "etc", upper / "dev" / "pts", upper / "home"):
        d.mkdir(parents=True)
    os.chmod(upper / "etc", os.stat(lower / "etc").st_mode)
    (lower / "home").mkdir()
    os.chmod(upper / "home", 0o700)  # a real change of the directory itself
    for name in ("etc/hosts", "etc/resolv.conf", ".dockerenv", "dev/pts/0", "home/.profile"):
        (upper / name).write_text("")
    assert archive.changes(str(upper), [str(lower)]) == [
        {"Path": "/home", "Kind": 0},
        {"Path": "/home/.profile", "Kind": 1},
    ]
    (upper / "etc" / "app.conf").write_text("x")  # now /etc changed for real
    assert [c["Path"] for c in archive.changes(str(upper), [str(lower)])] == [
        "/etc",
        "/etc/app.conf",
        "/home",
        "/home/.profile",
    ]


def test_init_layer_is_made_once(tmp_path: Path) -> None:
    path = archive.make_init_layer(str(tmp_path / "init"))
    assert os.path.isfile(os.path.join(path, ".dockerenv"))
    assert os.readlink(os.path.join(path, "etc", "mtab")) == "/proc/mounts"
    assert sorted(os.listdir(os.path.join(path, "dev"))) == ["console", "pts", "shm"]
    before = os.stat(path).st_mtime_ns
    assert archive.make_init_layer(path) == path
    assert os.stat(path).st_mtime_ns == before
    assert os.listdir(tmp_path) == ["init"]  # nothing left aside
