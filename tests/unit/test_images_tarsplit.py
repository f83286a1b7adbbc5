"""Tar-split: layers stored as extracted files + index, rebuilt byte for byte; layers that
cannot be rebuilt fall back to a whole blob (pull: streamed again; load: rebuilt prefix)."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import tarfile
import threading
from pathlib import Path

import pytest

from wharfie.engine import schema
from wharfie.images.ingest import ingest_layer, layer_tar
from wharfie.images.loadstage import Staging, adopt
from wharfie.images.store import ImageStore
from wharfie.images.tarsplit import Splitter, Unsplittable

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="extraction chowns to the tar's 0:0")


def _store(tmp_path: Path) -> ImageStore:
    db = sqlite3.connect(str(tmp_path / "db"), check_same_thread=False)
    schema.migrate(db, "the test database")
    return ImageStore(db, str(tmp_path / "data"), threading.Lock())


def _tar(entries: list[tuple[str, str, bytes]], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for kind, name, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(info)
            elif kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, data.decode()
                tf.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, data.decode()
                tf.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _chunks(data: bytes, n: int = 7777) -> list[bytes]:
    return [data[i : i + n] for i in range(0, len(data), n)]


RICH = [
    ("dir", "etc", b""),
    ("file", "etc/empty", b""),
    ("file", "etc/odd", b"x" * 513),
    ("file", "bin/big", os.urandom(300_000)),
    ("sym", "etc/link", b"/etc/odd"),
    ("link", "etc/hard", b"etc/odd"),
    ("file", "d/" + "n" * 150, b"long name"),
    ("file", "etc/.wh.gone", b""),
    ("file", "utf/é", b"unicode"),
]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_layer_rebuilt_byte_for_byte(tmp_path: Path, fmt: int) -> None:
    entries = (
        RICH
        if fmt != tarfile.USTAR_FORMAT
        else [e for e in RICH if len(e[1]) < 100 and "é" not in e[1]]
    )
    data = _tar(entries, fmt)
    s = _store(tmp_path)
    diff = _digest(data)
    chain, created, _ = ingest_layer(s, "", diff, lambda: iter(_chunks(data)))
    assert created and not s.content.has(diff)  # no blob: files + index only
    assert os.path.exists(os.path.join(s.tarsplit_root, diff[7:]))
    total, chunks = layer_tar(s, diff, chain)
    rebuilt = b"".join(chunks)
    assert total == len(data) and rebuilt == data


def test_changed_file_is_detected_on_rebuild(tmp_path: Path) -> None:
    data = _tar([("file", "a", b"hello world")])
    s = _store(tmp_path)
    diff = _digest(data)
    chain, _, _ = ingest_layer(s, "", diff, lambda: iter(_chunks(data)))
    path = Path(s.snapshots.path(chain)) / "a"
    path.write_bytes(b"HELLO world")
    with pytest.raises(Exception, match="can no longer be rebuilt"):
        b"".join(layer_tar(s, diff, chain)[1])


@pytest.mark.parametrize(
    "entries",
    [
        [("file", "a", b"one"), ("file", "a", b"two")],
        [("file", "d/f", b"x"), ("sym", "d", b"/tmp")],
        [("file", "d/f", b"x"), ("file", "d/.wh.f", b"")],
        [("file", "d/f", b"x"), ("file", "d/.wh..wh..opq", b"")],
    ],
)
def test_unsplittable_layers_fall_back_to_a_blob(
    tmp_path: Path, entries: list[tuple[str, str, bytes]]
) -> None:
    data = _tar(entries)
    s = _store(tmp_path)
    diff = _digest(data)
    calls = []

    def chunks() -> object:
        calls.append(1)
        return iter(_chunks(data, 100))

    chain, created, _ = ingest_layer(s, "", diff, chunks)  # type: ignore[arg-type]
    assert created and len(calls) == 2 and s.content.has(diff)
    assert b"".join(layer_tar(s, diff, chain)[1]) == data


def test_splitter_refuses_same_layer_whiteout() -> None:
    sp = Splitter()
    data = _tar([("file", "x", b"1"), ("file", ".wh.x", b"")])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tf:
        sp.write(data)
        with pytest.raises(Unsplittable):
            for m in tf:
                sp.member(m)


def test_load_staging_rebuilds_prefix_when_unsplittable(tmp_path: Path) -> None:
    big = os.urandom(200_000)
    layer = _tar([("file", "keep", big), ("file", "dup", b"first"), ("file", "dup", b"second")])
    outer = io.BytesIO()
    with tarfile.open(fileobj=outer, mode="w") as tf:
        info = tarfile.TarInfo("blobs/sha256/" + _digest(layer)[7:])
        info.size = len(layer)
        tf.addfile(info, io.BytesIO(layer))
    outer.seek(0)
    s = _store(tmp_path)
    staging = Staging(s)
    try:
        with tarfile.open(fileobj=outer, mode="r|") as tf:
            for m in tf:
                staging.add(tf, m)
        staged = staging.get("blobs/sha256/" + _digest(layer)[7:])
        assert staged.blob is not None and staged.diff_id == _digest(layer)
        chain, created, _ = adopt(s, staged, "", _digest(layer))
        assert created and s.content.has(_digest(layer))
        assert (Path(s.snapshots.path(chain)) / "dup").read_bytes() == b"second"
        assert (Path(s.snapshots.path(chain)) / "keep").read_bytes() == big
    finally:
        staging.close()
