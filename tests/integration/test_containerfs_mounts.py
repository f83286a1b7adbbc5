"""engine/containerfs.py on real mounts: the container's view is made in a private mount
namespace of one thread; the host's mount table never sees it."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from wharfie import fsroot
from wharfie.engine import containerfs
from wharfie.engine.containerfs import Bind
from wharfie.errors import WharfieError

pytestmark = pytest.mark.root


def _mounts_under(path: Path) -> list[str]:
    """Mount points under `path` in the calling thread's mount namespace."""
    with open("/proc/thread-self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mount namespaces need root")
    r = tmp_path / "root"
    r.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(r)], check=True)
    try:
        (r / "etc").mkdir()
        (r / "etc" / "hosts").write_text("")
        os.symlink("/etc", r / "etclink")
        yield r
    finally:
        subprocess.run(["umount", "-l", str(r)], check=True)


def test_binds_are_seen_inside_and_never_on_the_host(root: Path, tmp_path: Path) -> None:
    vol, ro, hosts = tmp_path / "vol", tmp_path / "ro", tmp_path / "hosts"
    vol.mkdir()
    ro.mkdir()
    (vol / "f").write_text("in the volume")
    hosts.write_text("127.0.0.1 localhost\n")
    binds = [
        Bind(str(vol), "/data/vol", True),
        Bind(str(ro), "/ro", False),
        Bind(str(hosts), "/etclink/hosts", True, volume=False),  # through a link, in scope
    ]
    before = _mounts_under(tmp_path)
    seen: dict[str, object] = {}

    def work(fd: int) -> None:
        with os.fdopen(fsroot.open_in(fd, "data/vol/f", os.O_RDONLY)) as f:
            seen["vol"] = f.read()
        with os.fdopen(fsroot.open_in(fd, "etclink/hosts", os.O_RDONLY)) as f:
            seen["hosts"] = f.read()
        seen["mounts"] = _mounts_under(tmp_path)
        try:
            os.close(fsroot.open_in(fd, "ro/x", os.O_CREAT | os.O_WRONLY, 0o644))
        except OSError as exc:
            seen["ro"] = exc.errno
        seen["thread"] = threading.current_thread().name

    containerfs.run(str(root), binds, work)
    assert seen["vol"] == "in the volume"
    assert seen["hosts"] == "127.0.0.1 localhost\n"
    assert len(seen["mounts"]) == len(before) + 3  # type: ignore[arg-type]
    assert seen["ro"] == 30  # EROFS
    assert seen["thread"] == "wharfie-containerfs"
    assert _mounts_under(tmp_path) == before  # the host never saw them
    assert (root / "data" / "vol").is_dir()  # the mount point stays, as dockerd's does
    assert not (vol / "x").exists() and not (ro / "x").exists()


def test_readonly_root_stays_read_only_whatever_a_path_resolves_to(
    root: Path, tmp_path: Path
) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    os.symlink("/etc", root / "swapped")  # what a container could swap a volume path for

    def work(fd: int) -> tuple[int, bool]:
        try:  # resolved in scope: /etc of the root, which is read-only here
            os.close(fsroot.open_in(fd, "swapped/new", os.O_CREAT | os.O_WRONLY))
            err = 0
        except OSError as exc:
            err = exc.errno or 0
        os.close(fsroot.open_in(fd, "vol/new", os.O_CREAT | os.O_WRONLY))
        return err, True

    result = containerfs.run(str(root), [Bind(str(vol), "/vol", True)], work, readonly_root=True)
    assert result == (30, True)  # EROFS in the root, a write in the volume
    assert (vol / "new").exists() and not (root / "etc" / "new").exists()
    # the same root without readonly_root is writable: the flag is what refused it
    containerfs.run(str(root), [], lambda fd: os.close(fsroot.open_in(fd, "etc/new", os.O_CREAT)))
    assert (root / "etc" / "new").exists()


def test_stream_stops_its_producer_when_closed(root: Path, tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    vol.mkdir()
    made = threading.Event()

    def forever(fd: int) -> Iterator[bytes]:
        made.set()
        while True:
            yield b"x" * 1024

    it = containerfs.stream(str(root), [Bind(str(vol), "/vol", True)], forever)
    assert next(it) == b"x" * 1024
    it.close()  # joins the producer thread
    assert made.is_set()
    assert not [t for t in threading.enumerate() if t.name == "wharfie-containerfs"]


def test_a_missing_root_is_an_error_not_a_hang(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mount namespaces need root")
    with pytest.raises((OSError, WharfieError)):
        containerfs.run(str(tmp_path / "nope"), [Bind(str(tmp_path), "/x", True)], lambda fd: fd)
