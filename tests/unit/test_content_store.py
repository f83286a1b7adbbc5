"""The content-addressed blob store."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from wharfie.content import ContentStore, parse_digest
from wharfie.errors import InvalidArgument, NotFound


def test_put_read_size_delete(tmp_path: Path) -> None:
    cs = ContentStore(str(tmp_path / "content"))
    digest = cs.put(b"hello")
    assert digest == "sha256:" + hashlib.sha256(b"hello").hexdigest()
    assert cs.has(digest) and cs.read(digest) == b"hello" and cs.size(digest) == 5
    assert cs.path(digest) == str(tmp_path / "content" / "sha256" / digest[7:])
    assert cs.put(b"hello") == digest
    cs.delete(digest)
    assert not cs.has(digest)
    with pytest.raises(NotFound):
        cs.read(digest)
    with pytest.raises(NotFound):
        cs.delete(digest)


def test_writer_streams_and_verifies(tmp_path: Path) -> None:
    cs = ContentStore(str(tmp_path))
    w = cs.writer()
    w.write(b"a")
    w.write(b"b")
    assert w.commit() == "sha256:" + hashlib.sha256(b"ab").hexdigest()
    w = cs.writer()
    w.write(b"x")
    with pytest.raises(InvalidArgument, match="mismatch"):
        w.commit("sha256:" + "0" * 64)
    assert not cs.has("sha256:" + "0" * 64)
    assert os.listdir(tmp_path / "ingest") == []


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    cs = ContentStore(str(tmp_path))
    with cs.writer() as w:
        w.write(b"partial")
    assert os.listdir(tmp_path / "ingest") == []
    assert os.listdir(tmp_path / "sha256") == []


@pytest.mark.parametrize(
    "bad", ["sha256:xyz", "md5:" + "0" * 32, "sha256:" + "A" * 64, "", "0" * 64]
)
def test_bad_digests(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_digest(bad)
