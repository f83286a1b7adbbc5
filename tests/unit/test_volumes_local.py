"""The local volume driver's records, option checks and copy-up (no mounts, no root)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from wharfie import syscalls as sc
from wharfie.errors import Conflict, InvalidArgument, NotFound
from wharfie.volumes import LocalDriver, check_name, check_opts, copy_up, driver, mountopts, size_of


def test_create_get_list_remove(tmp_path: Path) -> None:
    d = LocalDriver(str(tmp_path / "volumes"))
    v = d.create("data", {}, {"a": "b"})
    assert v.mountpoint == str(tmp_path / "volumes" / "data" / "_data")
    assert os.path.isdir(v.mountpoint) and v.labels == {"a": "b"} and v.driver == "local"
    assert v.created_at.endswith("Z")
    again = d.create("data", {}, {"other": "x"})  # idempotent: the existing one
    assert again.labels == {"a": "b"} and again.created_at == v.created_at
    Path(v.mountpoint, "f").write_bytes(b"12345")
    assert size_of(v.mountpoint) == 5
    assert [x.name for x in d.volumes()] == ["data"]
    d.remove("data")
    assert not (tmp_path / "volumes" / "data").exists()
    with pytest.raises(NotFound, match="get data: no such volume"):
        d.get("data")


def test_records_survive_a_new_driver_and_temporaries_go(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    LocalDriver(str(root)).create("keep", {"type": "tmpfs", "device": "tmpfs"}, {})
    (root / ".tmp-deadbeef").mkdir()
    d = LocalDriver(str(root))
    assert not (root / ".tmp-deadbeef").exists()
    v = d.get("keep")
    assert v.options == {"type": "tmpfs", "device": "tmpfs"} and v.needs_mount


def test_mount_counts_users_without_device(tmp_path: Path) -> None:
    d = LocalDriver(str(tmp_path / "volumes"))
    d.create("v1", {}, {})
    assert d.mount("v1", "c1") == d.path("v1")
    d.mount("v1", "c2")
    with pytest.raises(Conflict, match="volume is in use"):
        d.remove("v1")
    d.unmount("v1", "c1")
    d.unmount("v1", "c2")
    d.unmount("v1", "c2")  # twice is harmless
    d.remove("v1")


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"foo": "bar"}, 'invalid option: "foo"'),
        ({"type": "tmpfs"}, 'missing required option: "device"'),
        ({"device": "/x"}, 'missing required option: "type"'),
        ({"o": "size=1m", "type": "tmpfs"}, 'missing required option: "device"'),
        ({"size": "10m"}, "quota size requested but no quota support"),
        ({"size": "ten"}, "invalid size: 'ten'"),
    ],
)
def test_bad_options(opts: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        check_opts(opts)


def test_good_options() -> None:
    check_opts({})
    check_opts({"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    check_opts({"type": "none", "o": "bind", "device": "/srv"})
    check_opts({"size": "0"})


@pytest.mark.parametrize("name", ["-x", "a/b", "a b", "", ".hidden", "abc\n"])
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="includes invalid characters for a local volume"):
        check_name(name)


def test_one_character_name() -> None:
    with pytest.raises(InvalidArgument, match="volume name is too short"):
        check_name("a")


def test_unknown_driver(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match='error looking up volume plugin nfsx: plugin "nfsx"'):
        driver("nfsx", str(tmp_path))


def test_mount_options() -> None:
    o = mountopts.parse("bind,ro,rprivate,size=10m,uid=1")
    assert o.flags == sc.MS_BIND | sc.MS_RDONLY
    assert o.propagation == sc.MS_PRIVATE | sc.MS_REC
    assert o.data == "size=10m,uid=1" and o.is_bind and o.read_only
    o = mountopts.parse("ro,rw,nosuid,noexec,exec,rbind")
    assert o.flags == sc.MS_NOSUID | sc.MS_BIND | sc.MS_REC and o.data == ""
    assert mountopts.parse("").flags == 0


def test_copy_up_keeps_types_modes_links(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "d" / "e").mkdir(parents=True)
    (src / "f").write_text("data")
    os.chmod(src / "f", 0o4751)
    os.link(src / "f", src / "d" / "hard")
    os.symlink("../f", src / "d" / "sym")
    os.mkfifo(src / "fifo", 0o600)
    os.chmod(src, 0o710)
    os.utime(src / "f", (1_000_000, 2_000_000))
    dst.mkdir()
    assert copy_up(str(src), str(dst)) is True
    assert (dst / "f").read_text() == "data"
    assert stat.S_IMODE(os.stat(dst / "f").st_mode) == 0o4751
    assert os.stat(dst / "f").st_mtime == 2_000_000
    assert os.stat(dst / "f").st_ino == os.stat(dst / "d" / "hard").st_ino
    assert os.readlink(dst / "d" / "sym") == "../f"
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    assert (dst / "d" / "e").is_dir()
    assert stat.S_IMODE(os.stat(dst).st_mode) == 0o710
    # only into an empty volume, only from a directory
    assert copy_up(str(src), str(dst)) is False
    empty = tmp_path / "empty"
    empty.mkdir()
    assert copy_up(str(src / "f"), str(empty)) is False
    assert copy_up(str(tmp_path / "missing"), str(empty)) is False


def test_mountinfo_paths_unescaped() -> None:
    from wharfie.volumes.local import _unescape, is_mounted, mounts_under

    assert _unescape(b"/a\\040b\\011c\\134d") == "/a b\tc\\d"
    assert is_mounted("/proc") and not is_mounted("/proc/self")
    assert "/proc" in mounts_under("/proc")
