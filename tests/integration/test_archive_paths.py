"""images.archive on a real directory tree standing in for a container root (root)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from wharfie.errors import InvalidArgument, NotFound
from wharfie.images import archive

pytestmark = pytest.mark.root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = tmp_path / "root"
    (r / "etc").mkdir(parents=True)
    (r / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    os.utime(r / "etc" / "passwd", ns=(0, 1_500_000_000_123_456_789))
    (r / "etc" / "d").mkdir()
    (r / "etc" / "d" / "f").write_text("f")
    (r / "lnk").symlink_to("/etc")
    (r / "abs").symlink_to("/etc/passwd")
    (r / "up").symlink_to("../../../../../../../etc")
    (r / "tmp").mkdir(mode=0o1777)
    os.chmod(r / "tmp", 0o1777)
    return r


def _untar(chunks: object) -> dict[str, tarfile.TarInfo]:
    data = b"".join(chunks)  # type: ignore[arg-type]
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return {m.name: m for m in tf}


def _tar(*entries: tuple[str, bytes, dict[str, object]]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data, attrs in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            for k, v in attrs.items():
                setattr(ti, k, v)
            if ti.type != tarfile.REGTYPE:
                ti.size = 0
            tf.addfile(ti, io.BytesIO(data) if ti.type == tarfile.REGTYPE else None)
    buf.seek(0)
    return buf


def test_stat(root: Path) -> None:
    st = archive.stat(str(root), "/etc/passwd")
    assert st["name"] == "passwd" and st["size"] == 26 and st["linkTarget"] == ""
    assert st["mode"] == 0o644
    assert st["mtime"] == "2017-07-14T02:40:00.123456789Z"
    d = archive.stat(str(root), "/tmp")
    assert d["mode"] == (1 << 31) | (1 << 20) | 0o777
    link = archive.stat(str(root), "/lnk")
    assert link["mode"] & (1 << 27) and link["linkTarget"] == "/etc"
    assert archive.stat(str(root), "/abs")["linkTarget"] == "/etc/passwd"
    assert archive.stat(str(root), "/lnk/passwd")["name"] == "passwd"  # resolved in root
    assert archive.stat(str(root), "/up/passwd")["size"] == 26  # ".." stops at the root
    assert archive.stat(str(root), "/")["mode"] & (1 << 31)
    with pytest.raises(NotFound) as exc:
        archive.stat(str(root), "/nope")
    assert str(exc.value) == "Could not find the file /nope in container"


def test_tar_file_dir_and_contents(root: Path) -> None:
    f = _untar(archive.tar(str(root), "/etc/passwd"))
    assert list(f) == ["passwd"] and f["passwd"].size == 26
    d = _untar(archive.tar(str(root), "/etc"))
    assert set(d) == {"etc", "etc/passwd", "etc/d", "etc/d/f"}
    c = _untar(archive.tar(str(root), "/etc/."))  # dockerd's rebase: "./" and "./x"
    assert set(c) == {".", "./passwd", "./d", "./d/f"}
    whole = _untar(archive.tar(str(root), "/"))
    assert "/etc/passwd" in whole and "/lnk" in whole
    followed = _untar(archive.tar(str(root), "/lnk/"))  # named as asked, not as resolved
    assert set(followed) == {"lnk", "lnk/passwd", "lnk/d", "lnk/d/f"}
    via_link = _untar(archive.tar(str(root), "/lnk/d"))
    assert set(via_link) == {"d", "d/f"}
    link = _untar(archive.tar(str(root), "/lnk"))
    assert link["lnk"].issym() and link["lnk"].linkname == "/etc"
    with pytest.raises(NotFound):
        archive.tar(str(root), "/etc/missing")  # raised before streaming starts
    with pytest.raises(NotFound):
        archive.tar(str(root), "/missing/x")


def test_export(root: Path) -> None:
    names = _untar(archive.export(str(root)))
    assert {"etc", "etc/passwd", "lnk", "abs", "tmp"} <= set(names)
    assert names["tmp"].mode == 0o1777 and names["lnk"].issym()


def test_extract_ownership(root: Path) -> None:
    data = _tar(
        ("a.txt", b"A", {"uid": 1000, "gid": 1000}), ("sub/b.txt", b"B", {"uid": 1001, "gid": 1001})
    )
    archive.extract(str(root), "/tmp", data, no_overwrite_dir_non_dir=False, copy_uid_gid=False)
    st = os.stat(root / "tmp" / "a.txt")
    assert (st.st_uid, st.st_gid) == (0, 0) and (root / "tmp" / "sub" / "b.txt").read_text() == "B"
    data.seek(0)
    archive.extract(str(root), "/lnk", data, no_overwrite_dir_non_dir=False, copy_uid_gid=True)
    st = os.stat(root / "etc" / "a.txt")  # /lnk -> /etc inside the root
    assert (st.st_uid, st.st_gid) == (1000, 1000)


def test_extract_compressed(root: Path) -> None:
    import gzip

    data = io.BytesIO(gzip.compress(_tar(("z.txt", b"Z", {})).getvalue()))
    archive.extract(str(root), "/tmp", data, no_overwrite_dir_non_dir=False, copy_uid_gid=False)
    assert (root / "tmp" / "z.txt").read_text() == "Z"


def test_extract_destination_errors(root: Path) -> None:
    with pytest.raises(NotFound):
        archive.extract(
            str(root),
            "/nope",
            _tar(("x", b"", {})),
            no_overwrite_dir_non_dir=False,
            copy_uid_gid=False,
        )
    with pytest.raises(InvalidArgument, match="extraction point is not a directory"):
        archive.extract(
            str(root),
            "/etc/passwd",
            _tar(("x", b"", {})),
            no_overwrite_dir_non_dir=False,
            copy_uid_gid=False,
        )


def test_no_overwrite_dir_non_dir(root: Path) -> None:
    with pytest.raises(InvalidArgument, match="cannot overwrite directory"):
        archive.extract(
            str(root),
            "/etc",
            _tar(("d", b"file now", {})),
            no_overwrite_dir_non_dir=True,
            copy_uid_gid=False,
        )
    with pytest.raises(InvalidArgument, match="cannot overwrite non-directory"):
        archive.extract(
            str(root),
            "/etc",
            _tar(("passwd", b"", {"type": tarfile.DIRTYPE})),
            no_overwrite_dir_non_dir=True,
            copy_uid_gid=False,
        )
    assert (root / "etc" / "d").is_dir() and (root / "etc" / "passwd").is_file()
    archive.extract(
        str(root),
        "/etc",
        _tar(("d", b"file now", {})),
        no_overwrite_dir_non_dir=False,
        copy_uid_gid=False,
    )
    assert (root / "etc" / "d").read_text() == "file now"


@pytest.mark.parametrize(
    "entries",
    [
        [("../escape", b"x", {})],
        [("a/../../escape", b"x", {})],
        [("evil", b"", {"type": tarfile.SYMTYPE, "linkname": "/"}), ("evil/escape", b"x", {})],
        [("evil", b"", {"type": tarfile.SYMTYPE, "linkname": "../.."}), ("evil/escape", b"x", {})],
        [("lnk/escape", b"x", {})],  # an existing symlink in the container is not crossed
        [("h", b"", {"type": tarfile.LNKTYPE, "linkname": "../../escape"})],
    ],
)
def test_extract_escapes_fail_cleanly(
    root: Path, entries: list[tuple[str, bytes, dict[str, object]]]
) -> None:
    outside = root.parent / "escape"
    outside.write_text("keep")
    with pytest.raises(InvalidArgument):
        archive.extract(
            str(root), "/", _tar(*entries), no_overwrite_dir_non_dir=False, copy_uid_gid=False
        )
    assert outside.read_text() == "keep"
    assert not Path("/escape").exists()
    assert not (root.parent.parent / "escape").exists()


def test_absolute_names_stay_inside(root: Path) -> None:
    archive.extract(
        str(root),
        "/tmp",
        _tar(("/abs.txt", b"1", {})),
        no_overwrite_dir_non_dir=False,
        copy_uid_gid=False,
    )
    assert (root / "tmp" / "abs.txt").read_text() == "1"
    assert stat.S_ISREG(os.stat(root / "tmp" / "abs.txt").st_mode)
