"""engine.users: Config.User resolved from a rootfs's passwd and group files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wharfie.engine.users import group_ids, read_in_root, resolve_user, user_home
from wharfie.errors import InvalidArgument

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
# a comment
nobody:x:65534:65534:nobody:/home:/bin/false
www:x:33:33:www-data:/var/www:/bin/false
app:x:1000:1000::/home/app:/bin/sh
broken line
"""
GROUP = """root:x:0:
daemon:x:1:
wheel:x:10:root,app
audio:x:29:app
www:x:33:
staff:x:50:
nogroup:x:65534:
app:x:1000:
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    return tmp_path / "rootfs"


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", (0, 0, [10])),
        ("root", (0, 0, [10])),
        ("0", (0, 0, [10])),
        ("app", (1000, 1000, [10, 29])),
        ("1000", (1000, 1000, [10, 29])),
        ("www", (33, 33, [])),
        ("nobody", (65534, 65534, [])),
        ("4242", (4242, 0, [])),
        ("app:staff", (1000, 50, [])),
        ("app:50", (1000, 50, [])),
        ("1000:1000", (1000, 1000, [])),
        ("4242:4343", (4242, 4343, [])),
        ("4242:staff", (4242, 50, [])),
        ("root:wheel", (0, 10, [])),
    ],
)
def test_resolve_user(rootfs: Path, user: str, expected: tuple[int, int, list[int]]) -> None:
    assert resolve_user(str(rootfs), user) == expected


def test_unknown_user(rootfs: Path) -> None:
    with pytest.raises(
        InvalidArgument, match=r"^unable to find user xyz: no matching entries in passwd file$"
    ):
        resolve_user(str(rootfs), "xyz")
    with pytest.raises(InvalidArgument, match="unable to find user xyz"):
        resolve_user(str(rootfs), "xyz:staff")


def test_unknown_group(rootfs: Path) -> None:
    with pytest.raises(
        InvalidArgument, match=r"^unable to find group nope: no matching entries in group file$"
    ):
        resolve_user(str(rootfs), "app:nope")


def test_no_files(tmp_path: Path) -> None:
    assert resolve_user(str(tmp_path), "") == (0, 0, [])
    assert resolve_user(str(tmp_path), "1000:1000") == (1000, 1000, [])
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        resolve_user(str(tmp_path), "app")
    with pytest.raises(InvalidArgument, match="unable to find group g"):
        resolve_user(str(tmp_path), "1:g")
    assert user_home(str(tmp_path), 0) == "/root"
    assert user_home(str(tmp_path), 1000) == "/"


def test_user_home(rootfs: Path) -> None:
    assert user_home(str(rootfs), 0) == "/root"
    assert user_home(str(rootfs), 1000) == "/home/app"
    assert user_home(str(rootfs), 33) == "/var/www"
    assert user_home(str(rootfs), 4242) == "/"


def test_absolute_symlink_stays_in_rootfs(tmp_path: Path) -> None:
    """/etc/passwd -> /host/etc/passwd must read <rootfs>/host/etc/passwd, never the host's."""
    host = tmp_path / "host" / "etc"
    host.mkdir(parents=True)
    (host / "passwd").write_text("evil:x:0:0::/evil:/bin/sh\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink(str(host / "passwd"), rootfs / "etc" / "passwd")
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        resolve_user(str(rootfs), "evil")
    # the same absolute target inside the rootfs is what is read
    inside = rootfs / str(host).lstrip("/")
    inside.mkdir(parents=True)
    (inside / "passwd").write_text("good:x:7:8::/good:/bin/sh\n")
    assert resolve_user(str(rootfs), "good") == (7, 8, [])
    assert user_home(str(rootfs), 7) == "/good"


def test_dotdot_symlink_stays_in_rootfs(tmp_path: Path) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "passwd").write_text("evil:x:0:0::/evil:/bin/sh\n")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink("../../../../outside/passwd", rootfs / "etc" / "passwd")
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        resolve_user(str(rootfs), "evil")


def test_symlinked_etc_directory(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "real").mkdir(parents=True)
    (rootfs / "real" / "passwd").write_text("u:x:5:6::/u:/bin/sh\n")
    os.symlink("/real", rootfs / "etc")
    assert resolve_user(str(rootfs), "u") == (5, 6, [])


def test_symlink_loop(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    os.symlink("/etc/passwd", rootfs / "etc" / "passwd")
    with pytest.raises(InvalidArgument, match="too many levels"):
        read_in_root(str(rootfs), "/etc/passwd")


def test_not_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "etc" / "passwd").mkdir(parents=True)
    assert read_in_root(str(tmp_path), "/etc/passwd") is None
    assert resolve_user(str(tmp_path), "12") == (12, 0, [])


def test_group_ids(rootfs: Path) -> None:
    assert group_ids(str(rootfs), ["audio", "20", "staff"]) == [29, 20, 50]
    with pytest.raises(InvalidArgument, match="Unable to find group nope"):
        group_ids(str(rootfs), ["nope"])
