"""Snapshots and overlay mounts, and safe layer extraction into snapshots (root)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharfie import snapshots
from wharfie.errors import InvalidArgument, Unavailable
from wharfie.images.extract import extract_layer
from wharfie.images.tarstream import tree

pytestmark = pytest.mark.root

CHAIN = "sha256:" + "ab" * 32


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    yield tmp_path
    with open("/proc/self/mountinfo") as f:
        left = [ln.split()[4] for ln in f if ln.split()[4].startswith(str(tmp_path))]
    for m in reversed(left):
        snapshots.unmount(m)
    assert not left, f"mounts left behind: {left}"


def _entry(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **kw: object) -> tuple:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = len(data) if kind == tarfile.REGTYPE else 0
    ti.mode = 0o644 if kind != tarfile.DIRTYPE else 0o755
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, data


def _tar(*entries: tuple) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    buf.seek(0)
    return buf


def test_create_is_atomic(root: Path) -> None:
    store = snapshots.SnapshotStore(str(root / "snap"))

    def bad(tmp: str) -> None:
        Path(tmp, "half").write_text("x")
        raise OSError(5, "disk on fire")

    with pytest.raises(Unavailable, match="disk on fire"):
        store.create(CHAIN, bad)
    assert sorted(os.listdir(root / "snap")) == ["l"] and not store.has(CHAIN)
    path = store.create(CHAIN, lambda tmp: Path(tmp, "f").write_text("1"))
    assert path == store.path(CHAIN) and store.has(CHAIN)
    assert os.readlink(root / "snap" / "l" / ("ab" * 8)) == "../" + "ab" * 32
    store.remove(CHAIN)
    assert sorted(os.listdir(root / "snap")) == ["l"] and os.listdir(root / "snap" / "l") == []


def test_overlay_values() -> None:
    m = snapshots.overlay(["/s/a", "/s/b"], "/c/up", "/c/work")
    assert m == snapshots.Mount(
        "overlay", "overlay", ["lowerdir=/s/a:/s/b", "upperdir=/c/up", "workdir=/c/work"]
    )
    assert snapshots.overlay(["/s/a"], "", "") == snapshots.Mount("bind", "/s/a", ["rbind", "ro"])
    with pytest.raises(InvalidArgument):
        snapshots.overlay([], "/u", "/w")
    with pytest.raises(InvalidArgument):
        snapshots.overlay(["/s/a,b"], "/u", "/w")


def test_mount_error_has_context(root: Path) -> None:
    target = root / "t"
    target.mkdir()
    with pytest.raises(Unavailable) as exc:
        snapshots.mount(
            snapshots.overlay([str(root / "nope"), str(root / "nope2")], "", ""), str(target)
        )
    assert str(exc.value).startswith(f"mount overlay on {target}: ")


def test_read_only_single_layer(root: Path) -> None:
    layer = root / "layer"
    layer.mkdir()
    (layer / "f").write_text("x")
    target = root / "t"
    target.mkdir()
    snapshots.mount(snapshots.overlay([str(layer)], "", ""), str(target))
    try:
        assert (target / "f").read_text() == "x"
        with pytest.raises(OSError):
            (target / "g").write_text("y")
    finally:
        snapshots.unmount(str(target))


def test_sixty_layers_fit_one_mount(root: Path) -> None:
    # a long data root, so the full paths would not fit in one page
    store = snapshots.SnapshotStore(str(root / ("d" * 40) / "snapshots"))
    dirs = []
    for i in range(60):
        chain = "sha256:" + f"{i:02x}" * 32

        def fill(tmp: str, i: int = i) -> None:
            Path(tmp, f"f{i}").write_text(str(i))
            Path(tmp, "top").write_text(str(i))

        dirs.append(store.create(chain, fill))
    dirs.reverse()  # top-most first
    upper, work = snapshots.prepare_rw(str(root / "c"))
    m = snapshots.overlay(dirs, upper, work)
    assert len(",".join(m.options)) > 4096  # mount() must shorten it
    target = root / "t"
    target.mkdir()
    snapshots.mount(m, str(target))
    try:
        assert (target / "top").read_text() == "59"
        assert (target / "f0").read_text() == "0" and (target / "f59").read_text() == "59"
    finally:
        snapshots.unmount(str(target))


def test_layer_extraction_kinds(root: Path) -> None:
    dest = root / "x"
    dest.mkdir()
    size = extract_layer(
        _tar(
            _entry("/abs/file", data=b"abs", uid=1000, gid=1001, mtime=1000),
            _entry("./d", tarfile.DIRTYPE, mtime=2000, mode=0o750),
            _entry("d/suid", data=b"#!", mode=0o4755, uid=0, gid=0),
            _entry("d/link", tarfile.SYMTYPE, linkname="/etc/passwd"),
            _entry("d/hard", tarfile.LNKTYPE, linkname="d/suid"),
            _entry("d/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666),
            _entry("d/fifo", tarfile.FIFOTYPE),
            _entry("d/xattr", data=b"", pax_headers={"SCHILY.xattr.user.k": "v"}),
            _entry("d/.wh.gone"),
            _entry("d/sub/.wh..wh..opq"),
            _entry("a/b/../c", data=b"c"),
        ),
        str(dest),
    )
    assert size == 3 + 2 + 1
    st = os.stat(dest / "abs" / "file")
    assert (st.st_uid, st.st_gid) == (1000, 1001) and st.st_mtime == 1000
    assert os.stat(dest / "d" / "suid").st_mode & 0o7777 == 0o4755
    assert os.readlink(dest / "d" / "link") == "/etc/passwd"
    assert os.stat(dest / "d" / "hard").st_ino == os.stat(dest / "d" / "suid").st_ino
    assert os.stat(dest / "d" / "null").st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(os.stat(dest / "d" / "fifo").st_mode)
    try:
        assert os.getxattr(dest / "d" / "xattr", "user.k") == b"v"
    except OSError:
        pass  # tmpfs without user xattrs: the entry is kept without it
    gone = os.lstat(dest / "d" / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(dest / "d" / "sub", "trusted.overlay.opaque") == b"y"
    assert (dest / "a" / "c").read_bytes() == b"c"
    d = os.stat(dest / "d")
    assert d.st_mtime == 2000 and d.st_mode & 0o777 == 0o750  # set after its children
    # and back: whiteouts become AUFS entries again
    fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY)
    try:
        data = b"".join(tree(fd, ".", "", whiteouts=True))
    finally:
        os.close(fd)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = {m.name: m for m in tf}
    assert "d/.wh.gone" in names and "d/sub/.wh..wh..opq" in names
    assert names["d/hard"].islnk() or names["d/suid"].islnk()
    assert names["d/null"].ischr() and names["d/suid"].mode == 0o4755


@pytest.mark.parametrize(
    "entries",
    [
        [_entry("../escape", data=b"x")],
        [_entry("a/../../escape", data=b"x")],
        [_entry("link", tarfile.SYMTYPE, linkname="/"), _entry("link/escape", data=b"x")],
        [_entry("link", tarfile.SYMTYPE, linkname=".."), _entry("link/escape", data=b"x")],
        [_entry("h", tarfile.LNKTYPE, linkname="../escape")],
        [_entry("f", data=b"1" * 1000)],
    ],
)
def test_layer_extraction_refuses_escapes(root: Path, entries: list[tuple]) -> None:
    dest = root / "deep" / "x"
    dest.mkdir(parents=True)
    data = _tar(*entries)
    if entries[-1][0].size == 1000:  # header promises more data than the stream holds
        data = io.BytesIO(data.getvalue()[: 512 + 500])
    with pytest.raises(InvalidArgument):
        extract_layer(data, str(dest))
    assert not (root / "deep" / "escape").exists() and not (root / "escape").exists()
    assert not Path("/escape").exists()
