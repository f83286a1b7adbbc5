"""wharfie.fsroot: one table of cases for both resolvers (openat2 and the descriptor walk),
and a container-like race that swaps a directory for a symlink while resolving."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wharfie import fsroot

Opener = Callable[..., int]


def _impls() -> list[object]:
    out: list[object] = [pytest.param(fsroot.walk_open, id="walk")]
    if fsroot.have_openat2():
        out.append(pytest.param(fsroot.openat2_open, id="openat2"))
    else:
        out.append(
            pytest.param(
                fsroot.openat2_open,
                id="openat2",
                marks=pytest.mark.skip(reason="this kernel has no openat2 RESOLVE_IN_ROOT"),
            )
        )
    return out


IMPLS = _impls()


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    r = tmp_path / "root"
    (r / "dir" / "sub").mkdir(parents=True)
    (r / "etc").mkdir()
    (r / "dir" / "f").write_text("inside")
    (r / "etc" / "passwd").write_text("root:x:0:0:fake:/root:/bin/sh\n")
    (r / "file").write_text("plain")
    links = {
        "abs": "/dir",
        "rel": "dir",
        "dir/sub/up": "../..",
        "escape": "../../../../../..",
        "escape_etc": "../../../../etc",
        "host_passwd": "/etc/passwd",
        "dir/to_parent_file": "../file",
        "loop1": "loop2",
        "loop2": "loop1",
        "self": "self",
        "dangling": "/nowhere/at/all",
        "dangling_rel": "missing",
        "via_abs": "/abs/f",
    }
    for name, target in links.items():
        os.symlink(target, r / name)
    # chains: c40 takes 40 links to reach dir, c41 takes 41
    for n in range(41, 0, -1):
        os.symlink("dir" if n == 1 else f"c{n - 1}", r / f"c{n}")
    fd = fsroot.open_root(str(r))
    try:
        yield r, fd
    finally:
        os.close(fd)


# (path, follow, expected): expected is the path (relative to root) of the object the
# resolution must reach, or an errno.
CASES: list[tuple[str, bool, str | int]] = [
    ("/", True, "."),
    ("", True, "."),
    ("dir/f", True, "dir/f"),
    ("/dir/./f", True, "dir/f"),
    ("abs/f", True, "dir/f"),
    ("rel/f", True, "dir/f"),
    ("via_abs", True, "dir/f"),
    ("abs", False, "abs"),
    ("abs", True, "dir"),
    ("..", True, "."),
    ("../../..", True, "."),
    ("../../etc/passwd", True, "etc/passwd"),
    ("/../dir/../../dir/f", True, "dir/f"),
    ("dir/sub/up/file", True, "file"),
    ("dir/sub/up", True, "."),
    ("escape", True, "."),
    ("escape/dir/f", True, "dir/f"),
    ("escape_etc/passwd", True, "etc/passwd"),
    ("host_passwd", True, "etc/passwd"),
    ("host_passwd", False, "host_passwd"),
    ("dir/to_parent_file", True, "file"),
    ("loop1", True, errno.ELOOP),
    ("loop1/x", True, errno.ELOOP),
    ("loop1", False, "loop1"),
    ("self", True, errno.ELOOP),
    ("dangling", True, errno.ENOENT),
    ("dangling", False, "dangling"),
    ("dangling_rel", True, errno.ENOENT),
    ("missing", True, errno.ENOENT),
    ("missing/deeper", True, errno.ENOENT),
    ("file/x", True, errno.ENOTDIR),
    ("c40/f", True, "dir/f"),
    ("c41/f", True, errno.ELOOP),
    ("c41", False, "c41"),
    ("dir/f\0/etc/passwd", True, errno.EINVAL),  # never cut at the NUL as C would
]


def _same(fd: int, path: Path) -> bool:
    a, b = os.fstat(fd), os.lstat(path)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize(("path", "follow", "expected"), CASES)
def test_resolution_table(
    impl: Opener, tree: tuple[Path, int], path: str, follow: bool, expected: str | int
) -> None:
    root, rfd = tree
    if isinstance(expected, int):
        with pytest.raises(OSError) as info:
            os.close(impl(rfd, path, os.O_PATH, follow=follow))
        assert info.value.errno == expected, info.value
        return
    fd = impl(rfd, path, os.O_PATH, follow=follow)
    try:
        assert _same(fd, root / expected), f"{path} reached another object"
    finally:
        os.close(fd)


@pytest.mark.parametrize("impl", IMPLS)
def test_open_flags_read_create_and_nofollow(impl: Opener, tree: tuple[Path, int]) -> None:
    root, rfd = tree
    fd = impl(rfd, "abs/f", os.O_RDONLY)
    try:
        assert os.read(fd, 100) == b"inside"
    finally:
        os.close(fd)
    # O_CREAT through a dangling absolute link creates inside the root, not on the host
    os.symlink("/made.txt", root / "to_new")
    fd = impl(rfd, "to_new", os.O_WRONLY | os.O_CREAT, 0o640)
    os.close(fd)
    assert (root / "made.txt").exists()
    assert not os.path.exists("/made.txt") or not _same_file("/made.txt", root / "made.txt")
    # a symlink at the end with O_NOFOLLOW and real open flags: ELOOP, as the kernel
    with pytest.raises(OSError) as info:
        impl(rfd, "rel", os.O_RDONLY, follow=False)
    assert info.value.errno == errno.ELOOP
    # a directory wanted, a link to a directory found, followed
    fd = impl(rfd, "abs", os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert "f" in os.listdir(fd)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as info:
        impl(rfd, "file", os.O_RDONLY | os.O_DIRECTORY)
    assert info.value.errno == errno.ENOTDIR


def _same_file(a: str, b: Path) -> bool:
    sa, sb = os.lstat(a), os.lstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def test_scoped_path_and_parent(tree: tuple[Path, int]) -> None:
    _, rfd = tree
    assert fsroot.scoped_path(rfd, "abs/f") == "/dir/f"
    assert fsroot.scoped_path(rfd, "host_passwd") == "/etc/passwd"
    assert fsroot.scoped_path(rfd, "host_passwd", follow=False) == "/host_passwd"
    assert fsroot.scoped_path(rfd, "dangling") == "/nowhere/at/all"
    assert fsroot.scoped_path(rfd, "escape/../x/..") == "/"
    assert fsroot.scoped_path(rfd, "missing/../dir") == "/dir"
    assert fsroot.scoped_path(rfd, "rel/f/x/../y") == "/dir/f/y"  # past a file: as given
    with pytest.raises(OSError):
        fsroot.scoped_path(rfd, "loop1")
    pfd, name = fsroot.open_parent(rfd, "abs/f")
    try:
        assert name == "f" and "f" in os.listdir(fsroot.fd_path(pfd))
    finally:
        os.close(pfd)
    pfd, name = fsroot.open_parent(rfd, "/")
    os.close(pfd)
    assert name == "."
    pfd, name = fsroot.open_parent(rfd, "dir/sub/..")
    os.close(pfd)
    assert name == "dir"


def test_open_in_matches_the_available_implementation(tree: tuple[Path, int]) -> None:
    root, rfd = tree
    fd = fsroot.open_in(rfd, "escape_etc/passwd", os.O_RDONLY)
    try:
        assert _same(fd, root / "etc" / "passwd")
    finally:
        os.close(fd)


def _swapper(root: Path, stop: threading.Event) -> None:
    """What a hostile container does: `swap` is a directory, then a symlink to the host's
    /etc, then a directory again, by renames."""
    while not stop.is_set():
        os.rename(root / "swap", root / "swap.dir")
        os.rename(root / "swap.lnk", root / "swap")
        os.rename(root / "swap", root / "swap.lnk")
        os.rename(root / "swap.dir", root / "swap")


@pytest.mark.parametrize("impl", IMPLS)
def test_symlink_swapped_in_during_the_walk_never_escapes(
    impl: Opener, tree: tuple[Path, int]
) -> None:
    root, rfd = tree
    (root / "swap").mkdir()
    (root / "swap" / "passwd").write_text("in the swap dir\n")
    os.symlink("/etc", root / "swap.lnk")
    allowed = {root / "swap" / "passwd", root / "etc" / "passwd"}
    allowed_ids = {(os.lstat(p).st_dev, os.lstat(p).st_ino) for p in allowed}
    host = os.stat("/etc/passwd")
    swap_dirs = {_ident(root / "swap"), _ident(root / "etc")}  # renames keep the inode
    host_etc = _ident(Path("/etc"))
    stop = threading.Event()
    racer = threading.Thread(target=_swapper, args=(root, stop), daemon=True)
    racer.start()
    seen: dict[str, int] = {"hits": 0, "missing": 0}
    try:
        i = 0  # 3000 resolutions, and on until some succeeded (a loaded machine may not
        # schedule the racer for a while), within 20 s
        deadline = time.monotonic() + 20
        while i < 3000 or (seen["hits"] < 100 and time.monotonic() < deadline):
            i += 1
            path = ("swap/passwd", "swap/../swap/passwd", "/swap/./passwd")[i % 3]
            try:
                fd = impl(rfd, path, os.O_RDONLY)
            except FileNotFoundError:
                seen["missing"] += 1
                continue
            try:
                st = os.fstat(fd)
            finally:
                os.close(fd)
            assert (st.st_dev, st.st_ino) != (host.st_dev, host.st_ino), "escaped to the host"
            assert (st.st_dev, st.st_ino) in allowed_ids
            seen["hits"] += 1
        # the swapped name itself as the last component, followed: a directory inside
        for _ in range(1000):
            try:
                fd = impl(rfd, "swap", os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue
            try:
                got = (os.fstat(fd).st_dev, os.fstat(fd).st_ino)
            finally:
                os.close(fd)
            assert got != host_etc and got in swap_dirs
    finally:
        stop.set()
        racer.join()
    assert seen["hits"] > 0


def _ident(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def test_import_is_light_enough_for_the_runtime_start_path() -> None:
    """The runtime could resolve its mount destinations here: no heavy module comes along."""
    import subprocess
    import sys

    src = str(Path(fsroot.__file__).resolve().parents[2])
    code = (
        f"import sys; sys.path.insert(0, {src!r})\n"
        "from wharfie import fsroot\n"
        "fd = fsroot.open_root('/'); fsroot.os.close(fsroot.open_in(fd, 'etc'))\n"
        "heavy = ('re', 'typing', 'enum', 'json', 'subprocess', 'ctypes', 'logging')\n"
        "print(','.join(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "", f"heavy modules pulled in: {out.stdout.strip()}"


@pytest.mark.parametrize("impl", IMPLS)
def test_make_in_creates_mount_points_inside(
    impl: Opener, tree: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, rfd = tree
    monkeypatch.setattr(fsroot, "open_in", impl)
    fd = fsroot.make_in(rfd, "escape/new/deep", directory=True)  # ".." links clamp
    os.close(fd)
    assert (root / "new" / "deep").is_dir()
    fd = fsroot.make_in(rfd, "dangling", directory=False)  # creates the link's target
    os.close(fd)
    assert (root / "nowhere" / "at" / "all").is_file()
    fd = fsroot.make_in(rfd, "abs", directory=True)  # exists (through a link): as is
    try:
        assert _same(fd, root / "dir")
    finally:
        os.close(fd)
    with pytest.raises(NotADirectoryError):
        fsroot.make_in(rfd, "file/x", directory=True)
