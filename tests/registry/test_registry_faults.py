"""Concurrency, kill -9 during a push, truncated uploads, and garbage collection."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ourregistry import OurRegistry
from regclient import Client, sha

MiB = 1 << 20


def _push_chunked(c: Client, repo: str, data: bytes, chunk: int) -> str:
    loc = c.call("POST", f"/v2/{repo}/blobs/uploads/").headers["location"]
    for start in range(0, len(data), chunk):
        part = data[start : start + chunk]
        r = c.call("PATCH", loc, part, {"Content-Range": f"{start}-{start + len(part) - 1}"})
        assert r.status == 202, r.body
        loc = r.headers["location"]
    r = c.call("PUT", f"{loc}?digest={sha(data)}")
    assert r.status == 201, r.body
    return sha(data)


def test_16_clients_push_and_pull_same_and_different_blobs(registry: OurRegistry) -> None:
    """Pushers and pullers at once: 16 clients, one blob they all push, one each of their own,
    and blobs pushed before that they keep pulling. Whatever a GET returns is whole."""
    c = Client(registry.addr)
    shared = os.urandom(3 * MiB)
    own = [os.urandom(MiB + i * 4099) for i in range(16)]
    old = [os.urandom(2 * MiB + i) for i in range(4)]
    for i, blob in enumerate(old):
        c.push_blob(f"conc/r{i}", blob)

    def worker(i: int) -> int:
        repo = f"conc/r{i % 4}"
        seen = 0
        for round_no in range(3):
            if (i + round_no) % 2:  # push: the shared blob, then this client's own
                assert (
                    c.push_blob(repo, shared) if i % 3 else _push_chunked(c, repo, shared, MiB)
                ) == sha(shared)
                if round_no < 2:  # each client pushes its own blob once
                    assert _push_chunked(c, repo, own[i], 700_000) == sha(own[i])
            else:  # pull: an old blob, and the shared one, which may not be there yet
                assert sha(c.call("GET", f"/v2/{repo}/blobs/{sha(old[i % 4])}").body) == sha(
                    old[i % 4]
                )
                r = c.call("GET", f"/v2/{repo}/blobs/{sha(shared)}")
                assert r.status == 404 or sha(r.body) == sha(shared)
                seen += r.status == 200
        return seen

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(worker, range(16)))

    def check(i: int) -> bool:
        repo = f"conc/r{i % 4}"
        ok = c.call("GET", f"/v2/{repo}/blobs/{sha(shared)}").body == shared
        got = c.call("GET", f"/v2/{repo}/blobs/{sha(own[i])}").body
        return ok and hashlib.sha256(got).hexdigest() == sha(own[i])[7:]

    with ThreadPoolExecutor(16) as pool:
        assert all(pool.map(check, range(16)))
    blobs = registry.root / "blobs" / "sha256"
    assert sorted(p.name for p in blobs.iterdir()) == sorted(
        {sha(b)[7:] for b in [shared, *own, *old]}
    )
    assert list((registry.root / "uploads").iterdir()) == []


def _start_patch(reg: OurRegistry, loc: str, total: int, send: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", reg.port))
    s.sendall(
        f"PATCH {loc} HTTP/1.1\r\nHost: {reg.addr}\r\nContent-Length: {total}\r\n"
        "Content-Type: application/octet-stream\r\n\r\n".encode()
    )
    s.sendall(send)
    return s


def test_kill_9_during_push_then_retry(registry: OurRegistry) -> None:
    c = Client(registry.addr)
    data = os.urandom(32 * MiB)
    digest = sha(data)
    loc = c.call("POST", "/v2/fault/kill/blobs/uploads/").headers["location"]
    s = _start_patch(registry, loc, len(data), data[: 12 * MiB])
    deadline = time.monotonic() + 10
    while not any(f.stat().st_size for f in (registry.root / "uploads").glob("*/data")):
        assert time.monotonic() < deadline, "no upload data landed"
        time.sleep(0.02)
    registry.kill()  # mid-body: a half-written upload is on disk
    s.close()
    registry.start()
    assert c.call("GET", f"/v2/fault/kill/blobs/{digest}").status == 404
    assert c.call("HEAD", f"/v2/fault/kill/blobs/{digest}").status == 404
    assert not (registry.root / "blobs" / "sha256" / digest[7:]).exists()
    # finishing the broken session with the wrong length fails the digest check
    r = c.call("PUT", f"{loc}?digest={digest}")
    assert r.status in (400, 404)
    assert c.call("GET", f"/v2/fault/kill/blobs/{digest}").status == 404
    # a fresh push of the same blob succeeds
    assert _push_chunked(c, "fault/kill", data, 8 * MiB) == digest
    assert c.call("GET", f"/v2/fault/kill/blobs/{digest}").body == data


def test_session_survives_restart_and_resumes(registry: OurRegistry) -> None:
    c = Client(registry.addr)
    data = os.urandom(3 * MiB)
    loc = c.call("POST", "/v2/fault/resume/blobs/uploads/").headers["location"]
    r = c.call("PATCH", loc, data[:MiB], {"Content-Range": f"0-{MiB - 1}"})
    assert r.status == 202
    registry.kill()
    registry.start()
    status = c.call("GET", loc)
    assert status.status == 204 and status.headers["range"] == f"0-{MiB - 1}"
    r = c.call("PATCH", loc, data[MiB:], {"Content-Range": f"{MiB}-{len(data) - 1}"})
    assert r.status == 202
    assert c.call("PUT", f"{loc}?digest={sha(data)}").status == 201
    assert c.call("GET", f"/v2/fault/resume/blobs/{sha(data)}").body == data


def test_truncated_chunk_is_cut_back(registry: OurRegistry) -> None:
    c = Client(registry.addr)
    data = os.urandom(2 * MiB)
    loc = c.call("POST", "/v2/fault/trunc/blobs/uploads/").headers["location"]
    assert c.call("PATCH", loc, data[:MiB], {"Content-Range": f"0-{MiB - 1}"}).status == 202
    s = _start_patch(registry, loc, MiB, data[MiB : MiB + 1000])  # says 1 MiB, sends 1000
    s.shutdown(socket.SHUT_WR)
    s.recv(100)
    s.close()
    status = c.call("GET", loc)
    assert status.headers["range"] == f"0-{MiB - 1}"  # the half chunk is gone
    assert c.call("PATCH", loc, data[MiB:], {"Content-Range": f"{MiB}-{2 * MiB - 1}"}).status == 202
    assert c.call("PUT", f"{loc}?digest={sha(data)}").status == 201
    r = c.call("POST", f"/v2/fault/trunc/blobs/uploads/?digest={sha(b'abc')}", b"ab")
    assert r.status == 400 and r.codes() == ["DIGEST_INVALID"]


def _gc(root: Path, *flags: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "wharfie.cli", "registry", "gc", "--root", str(root), *flags],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


def test_gc_mark_and_sweep(registry: OurRegistry) -> None:
    c = Client(registry.addr)
    keep, _ = c.push_image("gc/app", "keep", layer=b"kept layer")
    drop, _ = c.push_image("gc/app", "drop", layer=b"dropped layer")
    stray = c.push_blob("gc/other", b"never referenced")
    assert c.call("DELETE", f"/v2/gc/app/manifests/{drop}").status == 202
    registry.stop()
    blobs = registry.root / "blobs" / "sha256"
    before = sorted(p.name for p in blobs.iterdir())
    report = _gc(registry.root, "--dry-run")
    assert f"would delete blob {drop}" in report and f"would delete blob {stray}" in report
    assert f"sha256:{sha(b'dropped layer')[7:]}" in report
    assert keep not in report
    assert sorted(p.name for p in blobs.iterdir()) == before
    report = _gc(registry.root)
    swept = {
        line.split("sha256:")[1] for line in report.splitlines() if line.startswith("deleted blob")
    }
    assert swept >= {drop[7:], stray[7:], sha(b"dropped layer")[7:]}
    assert len(swept) == 4  # and the dropped image's config
    assert sorted(p.name for p in blobs.iterdir()) == sorted(set(before) - swept)
    registry.start()
    r = c.call("GET", "/v2/gc/app/manifests/keep")
    assert r.status == 200
    assert c.call("GET", f"/v2/gc/app/blobs/{sha(b'kept layer')}").body == b"kept layer"
    assert c.call("GET", f"/v2/gc/other/blobs/{stray}").status == 404


def _check_store(root: Path) -> None:
    """Every blob is whole (its bytes hash to its name); every revision's manifest is there."""
    for blob in (root / "blobs" / "sha256").iterdir():
        assert ".tmp-" not in blob.name, f"temp file in the blob store: {blob.name}"
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.name, blob.name
    assert list(root.glob("blobs/sha256/*.tmp-*")) == []
    for rev in (root / "repositories").rglob("_manifests/revisions/*"):
        if ".tmp-" not in rev.name:
            assert (root / "blobs" / "sha256" / rev.name).exists(), rev


def test_kill_9_at_random_moments_keeps_the_store_whole(registry: OurRegistry) -> None:
    import random
    import threading

    rng = random.Random(5)
    c = Client(registry.addr)
    # A kill -9 can only cut connections (OSError). A wrong status is an answer the live
    # registry gave: that is a failure, collected here and reported after the round.
    wrong_answers: list[str] = []
    for round_no in range(4):
        stop = threading.Event()

        def pusher(i: int, round_no: int = round_no, stop: threading.Event = stop) -> None:
            n = 0
            while not stop.is_set():
                try:
                    c.push_image(f"chaos/r{i}", f"t{round_no}-{n}", layer=os.urandom(MiB))
                    _push_chunked(c, f"chaos/r{i}", os.urandom(3 * MiB), MiB)
                except OSError:
                    return  # the registry died under us: that is the point
                except AssertionError as exc:
                    wrong_answers.append(f"round {round_no} pusher {i}: {exc}")
                    return
                n += 1

        threads = [threading.Thread(target=pusher, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 0.8))
        registry.kill()
        stop.set()
        for t in threads:
            t.join(30)
        assert wrong_answers == []
        _check_store(registry.root)
        registry.start()
        # whatever a tag points at can be pulled whole
        for tag in (registry.root / "repositories").rglob("_manifests/tags/*"):
            if ".tmp-" in tag.name:
                continue
            repo = str(tag.parent.parent.parent.relative_to(registry.root / "repositories"))
            r = c.call("GET", f"/v2/{repo}/manifests/{tag.name}")
            assert r.status == 200, (repo, tag.name)
            for layer in r.json()["layers"]:
                blob = c.call("GET", f"/v2/{repo}/blobs/{layer['digest']}")
                assert sha(blob.body) == layer["digest"]
    assert c.push_blob("chaos/after", b"still works") == sha(b"still works")


def test_sigterm_lets_a_push_in_progress_finish(registry: OurRegistry) -> None:
    c = Client(registry.addr)
    data = os.urandom(8 * MiB)
    loc = c.call("POST", "/v2/fault/term/blobs/uploads/").headers["location"]
    s = _start_patch(registry, loc, len(data), data[:MiB])
    time.sleep(0.2)
    assert registry.proc is not None
    registry.proc.terminate()
    time.sleep(0.2)
    assert registry.proc.poll() is None  # still serving the PATCH
    s.sendall(data[MiB:])
    reply = s.recv(4096)
    assert reply.startswith(b"HTTP/1.1 202"), reply[:200]
    s.close()
    assert registry.proc.wait(10) == 0
    registry.proc = None
    registry.start()
    r = c.call("PUT", f"{loc}?digest={sha(data)}")
    assert r.status == 201
