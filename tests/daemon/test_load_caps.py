"""`docker load` of an archive whose non-layer members are big: a clear 400 before they
are held in memory (the issue: 8 x 48 MiB took the daemon's RSS to 586 MB), nothing
staged is left behind, and no image appears."""

from __future__ import annotations

import io
import os
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from support.daemon import Daemon, docker_cli


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def archive(path: Path, sizes: list[int]) -> None:
    """JSON-looking members of the given sizes (not layers), then a manifest.json."""
    with tarfile.open(path, "w") as tf:
        for i, size in enumerate(sizes):
            info = tarfile.TarInfo(f"blob{i}.json")
            info.size = size
            tf.addfile(info, io.BytesIO(b"{" + b" " * (size - 2) + b"}"))
        doc = b"[]"
        info = tarfile.TarInfo("manifest.json")
        info.size = len(doc)
        tf.addfile(info, io.BytesIO(doc))


def staged_dirs(d: Daemon) -> list[str]:
    return [p for p in os.popen(f"find {d.data} -maxdepth 4 -name 'tmp-load-*'").read().split()]


def test_non_layer_members_are_capped_in_total(daemon: Daemon, tmp_path: Path) -> None:
    assert daemon.proc is not None
    images_before = docker_cli(daemon, "images", "-aq").stdout
    before = rss_kb(daemon.proc.pid)
    path = tmp_path / "big.tar"
    archive(path, [15 << 20] * 5)  # 75 MiB of non-layer members, 15 MiB each
    out = docker_cli(daemon, "load", "-i", str(path))
    assert out.returncode != 0
    assert b"non-layer members take more than 64 MiB" in out.stderr, out.stderr
    assert rss_kb(daemon.proc.pid) - before < 120 * 1024
    assert staged_dirs(daemon) == []
    assert docker_cli(daemon, "images", "-aq").stdout == images_before


def test_one_big_non_layer_member_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    path = tmp_path / "one.tar"
    archive(path, [20 << 20])
    out = docker_cli(daemon, "load", "-i", str(path))
    assert out.returncode != 0
    assert b"blob0.json is neither a layer nor small" in out.stderr, out.stderr
    # As dockerd, load reports its error inside the 200 stream: the CLI prints the message
    # (not a broken connection, which would read "error during connect" or "EOF").
    assert out.stderr.startswith(b"invalid archive: "), out.stderr
    assert staged_dirs(daemon) == []
