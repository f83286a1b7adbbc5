"""The busybox bootstrap tar, the detach keys and the auto-start decision."""

import io
import os
import tarfile
from pathlib import Path

import pytest

from wharfie.cli.autostart import should_autostart
from wharfie.cli.bootstrap import BUSYBOX, build_tar, is_static, members
from wharfie.cli.stream import Detacher, detach_sequence
from wharfie.client.api import DEFAULT_HOST
from wharfie.errors import FailedPrecondition, NotFound, Unavailable


def test_member_list() -> None:
    m = {path: (kind, mode, content) for path, kind, mode, content in members(["sh", "ls"])}
    assert m["bin/busybox"][0] == "busybox"
    assert m["bin/sh"] == ("link", 0o777, "busybox")
    assert m["tmp"] == ("dir", 0o1777, "")
    for d in ("proc", "sys", "dev", "root", "home", "var", "etc", "usr/bin", "sbin"):
        assert m[d][0] == "dir"
    assert "root:x:0:0:root:/root:/bin/sh\n" in m["etc/passwd"][2]
    assert "nobody:x:65534:65534:nobody:/nonexistent:/bin/false" in m["etc/passwd"][2]
    assert m["etc/group"][2] == "root:x:0:\nnogroup:x:65534:\n"


def test_elf_static_check() -> None:
    assert not is_static(Path("/bin/true").read_bytes())
    with pytest.raises(FailedPrecondition):
        is_static(b"#!/bin/sh\n")


@pytest.mark.skipif(not os.path.exists(BUSYBOX), reason="busybox-static is not installed")
def test_build_tar_from_host_busybox() -> None:
    with tarfile.open(fileobj=io.BytesIO(build_tar()), mode="r") as tar:
        names = {m.name: m for m in tar.getmembers()}
    assert names["bin/busybox"].size == os.path.getsize(BUSYBOX)
    assert names["bin/sh"].issym() and names["bin/sh"].linkname == "busybox"
    assert names["tmp"].mode == 0o1777


def test_build_tar_refuses_missing_or_dynamic(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="busybox-static"):
        build_tar(str(tmp_path / "none"))
    with pytest.raises(FailedPrecondition, match="busybox-static"):
        build_tar("/bin/true")


def test_detach_keys() -> None:
    assert detach_sequence(None) == b"\x10\x11"
    assert detach_sequence("ctrl-x,a") == b"\x18a"
    d = Detacher(b"\x10\x11")
    assert d.feed(b"ab\x10") == (b"ab", False)
    assert d.feed(b"c") == (b"\x10c", False)
    assert d.feed(b"x\x10\x11y") == (b"x", True)


def _refused() -> Unavailable:
    try:
        raise Unavailable("no") from ConnectionRefusedError()
    except Unavailable as exc:
        return exc


def test_autostart_only_for_the_default_socket() -> None:
    err = _refused()
    assert should_autostart(DEFAULT_HOST, False, err)
    assert not should_autostart(DEFAULT_HOST, True, err)
    assert not should_autostart("unix:///other.sock", False, err)
    assert not should_autostart(DEFAULT_HOST, False, Unavailable("timeout"))


FAKE_DAEMON = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\\r\\nApi-Version: 1.44\\r\\nContent-Length: 0\\r\\n\\r\\n")
    c.close()
"""


def test_start_daemon_spawns_detached_and_waits(tmp_path: Path) -> None:
    import sys

    from wharfie.cli.autostart import start_daemon, wait_for_daemon
    from wharfie.client import Client

    sock = tmp_path / "d.sock"
    log = tmp_path / "d.log"
    pid, used_log = start_daemon([sys.executable, "-c", FAKE_DAEMON, str(sock)], str(log))
    try:
        assert used_log == str(log)
        wait_for_daemon(Client(f"unix://{sock}"), timeout=10)
        assert os.getsid(pid) == pid  # its own session
        assert "listening" in log.read_text()
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
