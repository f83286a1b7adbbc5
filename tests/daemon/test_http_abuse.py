"""Raw HTTP abuse of wharfied's API socket: smuggling shapes, bad chunking, huge and many
headers, slowloris, idle floods, busy floods. Every case answers or closes within its
timeout, never with a 5xx from bad input, and the daemon keeps serving (`docker ps`
within 1 s). The framing answers were compared on the wire with dockerd 20.10
(tests/support/peers.py): the same status for every case, except where RFC 9112 lets a
server refuse what Go's server accepts (both Transfer-Encoding and Content-Length,
obs-fold, no CRLF after chunk data, more than 10,000 header fields): 400 and close.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support import http_abuse as ha
from support.daemon import DOCKER, Daemon
from support.peers import private_dockerd

HEADER_TIMEOUT = 2.0
IDLE_TIMEOUT = 6.0
MAX_CONNECTIONS = 600


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    if os.geteuid() != 0:
        pytest.skip("wharfied needs root (namespaces, cgroups, mounts)")
    daemon = Daemon(
        tmp_path_factory.mktemp("abuse"),
        40 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0),
        extra_args=(
            "--api-header-timeout",
            str(HEADER_TIMEOUT),
            "--api-idle-timeout",
            str(IDLE_TIMEOUT),
            "--api-max-connections",
            str(MAX_CONNECTIONS),
        ),
    )
    daemon.start()
    try:
        yield daemon
    finally:
        leaked = daemon.teardown()
        assert not leaked, f"mounts left behind: {leaked}"


def docker_ps_seconds(d: Daemon) -> float:
    env = {**os.environ, "DOCKER_HOST": d.host}
    started = time.monotonic()
    out = subprocess.run([DOCKER, "ps"], capture_output=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    return time.monotonic() - started


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def ping(d: Daemon) -> ha.Outcome:
    return ha.probe(str(d.sock), b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 5)


def test_framing_abuse_is_refused_and_closed(d: Daemon) -> None:
    volume = f"abuse{os.getpid()}"
    for name, raw in ha.framing_cases(volume).items():
        out = ha.probe(str(d.sock), raw, timeout=5)
        assert out.status in (400, 501), (name, out.raw[:200])
        assert out.closed and out.seconds < 2, (name, out)
    volumes = subprocess.run(
        [DOCKER, "volume", "ls", "-q"],
        capture_output=True,
        env={**os.environ, "DOCKER_HOST": d.host},
        check=True,
    ).stdout
    assert volume.encode() not in volumes.split()
    assert ping(d).status == 200


# Where RFC 9112 lets a server refuse what Go's server (dockerd 20.10) takes: we refuse.
LOOSER_IN_GO = {"te-and-cl", "obs-fold", "chunk-no-crlf", "many-headers-20000"}


def test_framing_answers_match_dockerd(d: Daemon, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same bytes to a private dockerd and to wharfied: the same status, and the same
    close, for every case but the documented stricter ones."""
    volume = f"peer{os.getpid()}"
    cases = ha.framing_cases(volume)
    cases["huge-header-2m"] = ha.huge_header(2 << 20)
    cases["huge-header-200k"] = ha.huge_header(200_000)
    cases["many-headers-1000"] = ha.many_headers(1000)
    cases["many-headers-20000"] = ha.many_headers(20_000)
    with private_dockerd(tmp_path_factory.mktemp("dockerd")) as peer:
        theirs = {name: ha.probe(str(peer.sock), raw, timeout=1.5) for name, raw in cases.items()}
        peer.cli("volume", "rm", "-f", volume)
    for name, raw in cases.items():
        ours = ha.probe(str(d.sock), raw, timeout=1.5)
        if name in LOOSER_IN_GO:
            assert theirs[name].status is not None and theirs[name].status < 300, name
            assert ours.status in (400, 431) and ours.closed, name
        else:
            assert ours.status == theirs[name].status, (
                name,
                ours.raw[:200],
                theirs[name].raw[:200],
            )
            assert ours.closed == theirs[name].closed, name
    subprocess.run(
        [DOCKER, "volume", "rm", "-f", volume],
        capture_output=True,
        env={**os.environ, "DOCKER_HOST": d.host},
    )


def test_a_valid_body_after_the_checks_still_works(d: Daemon) -> None:
    doc = b'{"Name": "ok%d"}' % os.getpid()
    raw = (
        b"POST /volumes/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n" + b"%x ; ext=1\r\n%s\r\n0\r\nX-T: 1\r\n\r\n" % (len(doc), doc)
    )
    out = ha.probe(str(d.sock), raw)
    assert out.status == 201 and out.closed and b"Connection: close" in out.raw
    env = {**os.environ, "DOCKER_HOST": d.host}
    subprocess.run(
        [DOCKER, "volume", "rm", f"ok{os.getpid()}"], env=env, check=True, capture_output=True
    )


def test_huge_and_many_headers(d: Daemon) -> None:
    out = ha.probe(str(d.sock), ha.huge_header(2 << 20), timeout=5)
    assert out.status == 431 and out.closed  # Go's 1 MiB limit, Go's status
    out = ha.probe(str(d.sock), ha.many_headers(20_000), timeout=5)
    assert out.status == 431 and out.closed
    out = ha.probe(str(d.sock), ha.huge_header(200_000), timeout=2)
    assert out.status == 200  # under the limit, as dockerd takes it
    out = ha.probe(str(d.sock), b"GET /" + b"a" * (2 << 20) + b" HTTP/1.1\r\n\r\n", timeout=5)
    assert out.status == 431 and out.closed
    assert ping(d).status == 200


def test_connection_close_is_honoured_on_streams(d: Daemon) -> None:
    now = int(time.time())
    raw = (
        b"GET /v1.44/events?since=%d&until=%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"\r\n" % (now - 1, now + 1)
    )
    out = ha.probe(str(d.sock), raw, timeout=5)
    assert out.status == 200 and out.closed and out.seconds < 4
    assert b"Transfer-Encoding: chunked" in out.raw and b"Connection: close" in out.raw
    assert out.raw.endswith(b"0\r\n\r\n")


def test_pipelined_requests_and_http10(d: Daemon) -> None:
    raw = b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\nGET /_ping HTTP/1.0\r\n\r\n"
    out = ha.probe(str(d.sock), raw, timeout=5)
    assert out.raw.count(b"HTTP/1.1 200 OK") == 2 and out.closed  # 1.0: closed after


def test_huge_chunk_is_streamed_and_capped(d: Daemon) -> None:
    """One 256 MiB chunk for a JSON body: refused past the 16 MiB JSON limit without
    holding the chunk (the daemon's RSS grows by far less than what was sent)."""
    assert d.proc is not None
    before = rss_kb(d.proc.pid)
    with ha.connect(str(d.sock), 10) as s:
        s.sendall(
            b"POST /volumes/create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"\r\n%x\r\n" % (256 << 20)
        )
        block = b" " * (1 << 20)
        sent = 0
        try:
            while sent < (256 << 20):
                s.sendall(block)
                sent += len(block)
        except OSError:
            pass  # answered and closed mid-body
        s.settimeout(5)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError:
            pass
    assert data.startswith(b"HTTP/1.1 400 "), data[:200]
    assert b"larger than" in data
    assert rss_kb(d.proc.pid) - before < 48 * 1024
    assert ping(d).status == 200


def test_slowloris_and_idle_connections_are_closed_in_time(d: Daemon) -> None:
    results: dict[str, float] = {}

    def slow() -> None:
        with ha.connect(str(d.sock), 30) as s:
            started = time.monotonic()
            s.sendall(b"GET /_ping HTTP/1.1\r\n")
            try:
                for _ in range(100):
                    s.sendall(b"X")
                    time.sleep(0.2)
                    s.settimeout(0.01)
                    try:
                        if s.recv(100) == b"":
                            break
                    except TimeoutError:
                        pass
            except OSError:
                pass
            results["slowloris"] = time.monotonic() - started

    def idle() -> None:
        with ha.connect(str(d.sock), 30) as s:
            started = time.monotonic()
            s.recv(100)  # b"" when the daemon closes it
            results["idle"] = time.monotonic() - started

    threads = [threading.Thread(target=slow), threading.Thread(target=idle)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    assert docker_ps_seconds(d) < 1.0  # served meanwhile
    for t in threads:
        t.join(30)
    assert HEADER_TIMEOUT - 0.5 < results["slowloris"] < HEADER_TIMEOUT + 1.5
    assert IDLE_TIMEOUT - 0.5 < results["idle"] < IDLE_TIMEOUT + 1.5


def open_idle(path: str, count: int) -> list[socket.socket]:
    conns = []
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)  # blocking: waits while the listen backlog is full
        conns.append(s)
    return conns


def test_idle_flood_past_the_cap(d: Daemon) -> None:
    """2,000 idle connections (past the cap of 600: the longest idle make room), then
    `docker ps` within 1 s, and the daemon's RSS back within 10 % once they are gone."""
    assert d.proc is not None
    for _ in range(3):
        ping(d)
    before = rss_kb(d.proc.pid)
    conns = open_idle(str(d.sock), 2000)
    try:
        assert docker_ps_seconds(d) < 1.0
        assert ping(d).status == 200
    finally:
        for s in conns:
            s.close()
    time.sleep(0.5)
    assert ping(d).status == 200
    after = rss_kb(d.proc.pid)
    assert after < before * 1.10 + 2048, (before, after)


def test_idle_flood_at_the_default_cap(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The same 2,000 idle connections at the default cap (2,048: none is evicted, all are
    held at once): RSS back within 10 % of where it was before them, with margin (a
    connection is only a socket and a slot until its first byte)."""
    daemon = Daemon(
        tmp_path_factory.mktemp("abuse-default"),
        50 + int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0),
    )
    daemon.start()
    try:
        assert daemon.proc is not None
        for _ in range(3):
            ping(daemon)
        before = rss_kb(daemon.proc.pid)
        conns = open_idle(str(daemon.sock), 2000)
        try:
            assert docker_ps_seconds(daemon) < 1.0
            assert ping(daemon).status == 200
        finally:
            for s in conns:
                s.close()
        time.sleep(0.5)
        assert ping(daemon).status == 200
        after = rss_kb(daemon.proc.pid)
        print(f"RSS {before} -> {after} KiB ({(after - before) / before * 100:+.1f} %)")
        assert after < before * 1.08, (before, after)
    finally:
        leaked = daemon.teardown()
        assert not leaked, f"mounts left behind: {leaked}"


def test_busy_flood_is_refused_fairly(d: Daemon) -> None:
    """Every slot busy (streams in progress): a newcomer gets 503 at once, not a hang;
    once the streams end, new clients are served again."""
    streams = []
    try:
        for _ in range(MAX_CONNECTIONS):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(d.sock))  # blocking: waits while the listen backlog is full
            s.settimeout(10)
            s.sendall(b"GET /v1.44/events HTTP/1.1\r\nHost: x\r\n\r\n")
            streams.append(s)
        for s in streams:  # each stream's head arrived: all busy now
            assert s.recv(12).startswith(b"HTTP/1.1 200")
        out = ha.probe(str(d.sock), b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
        assert out.status == 503 and out.closed and out.seconds < 1
    finally:
        for s in streams:
            s.close()
    deadline = time.monotonic() + 5
    while ping(d).status != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ping(d).status == 200
    assert docker_ps_seconds(d) < 1.0


def test_accept_errors_are_logged_rate_limited(d: Daemon) -> None:
    """Out of descriptors (the limit lowered under the daemon, as other work might use
    them up): accepts fail with EMFILE for seconds; the log gets a handful of lines, not
    a storm, and once descriptors are free again `docker ps` is served."""
    import resource

    assert d.proc is not None
    pid = d.proc.pid
    old = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    used = len(os.listdir(f"/proc/{pid}/fd"))
    log_before = d.log.read_bytes().count(b"\n")
    conns = []
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (used + 20, old[1]))
    try:
        for _ in range(150):
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                s.connect(str(d.sock))
            except BlockingIOError:
                s.close()  # the backlog is full: the daemon is not accepting
                continue
            conns.append(s)
        time.sleep(4)
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, old)
        for s in conns:
            s.close()
    lines = d.log.read_bytes().splitlines()[log_before:]
    errors = [x for x in lines if b"ERROR" in x]
    assert any(b"accept" in x for x in errors), lines[-20:]  # the storm did happen
    assert len(lines) < 60, lines[-20:]
    deadline = time.monotonic() + 5
    while ping(d).status != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert docker_ps_seconds(d) < 1.0


@pytest.mark.full
def test_twenty_thousand_idle_connections(d: Daemon) -> None:
    """The issue's flood: ~20,000 idle connections (as many as this process may open),
    `docker ps` within 1 s meanwhile, and no log storm (the accept path logs rate-limited)."""
    import resource

    assert d.proc is not None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log_before = d.log.stat().st_size
    conns: list[socket.socket] = []
    try:
        try:
            conns = open_idle(str(d.sock), min(20_000, hard - 200))
        except OSError as exc:
            pytest.fail(f"connect failed after {len(conns)}: {exc}")
        assert docker_ps_seconds(d) < 1.0
    finally:
        for s in conns:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert ping(d).status == 200
    assert d.log.stat().st_size - log_before < 1 << 20
