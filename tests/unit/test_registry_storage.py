"""The registry's storage, upload sessions and gc on a temp directory (no server)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from wharfie.registry import manifest as mf
from wharfie.registry.codes import RegistryError
from wharfie.registry.gc import collect
from wharfie.registry.storage import Storage
from wharfie.registry.uploads import CHUNK, Uploads


def hx(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reader(data: bytes, piece: int = 7000, cut: bool = False):  # type: ignore[no-untyped-def]
    """A readinto over `data` in small pieces; `cut` ends in EOFError like a dropped client."""
    pos = 0

    def read(view: memoryview) -> int:
        nonlocal pos
        if pos >= len(data):
            if cut:
                raise EOFError("cut off")
            return 0
        n = min(len(view), piece, len(data) - pos)
        view[:n] = data[pos : pos + n]
        pos += n
        return n

    return read


def test_upload_in_chunks_then_commit(tmp_path: Path) -> None:
    st = Storage(str(tmp_path))
    ups = Uploads(st)
    data = os.urandom(CHUNK * 2 + 12345)
    up = ups.start("a/b")
    ups.append(up, reader(data[: CHUNK + 5]), CHUNK + 5)
    ups.append(up, reader(data[CHUNK + 5 :], piece=CHUNK), None)
    assert up.offset == len(data)
    ups.finish(up, hx(data))
    assert Path(st.blob_path(hx(data))).read_bytes() == data
    assert os.listdir(st.uploads) == []


def test_cut_chunk_is_rolled_back_and_hash_rebuilt(tmp_path: Path) -> None:
    st = Storage(str(tmp_path))
    ups = Uploads(st)
    data = os.urandom(300_000)
    up = ups.start("a")
    ups.append(up, reader(data[:100_000]), 100_000)
    with pytest.raises(EOFError):
        ups.append(up, reader(data[100_000:150_000], cut=True), 200_000)
    assert up.offset == 100_000 and os.path.getsize(up.path) == 100_000
    with pytest.raises(RegistryError) as exc:  # shorter than its Content-Length
        ups.append(up, reader(data[100_000:120_000]), 200_000)
    assert exc.value.code == "SIZE_INVALID" and os.path.getsize(up.path) == 100_000
    ups.append(up, reader(data[100_000:]), None)
    ups.finish(up, hx(data))  # the hash was rebuilt from the file
    assert st.has_blob(hx(data))


def test_session_reloaded_from_disk_and_repo_checked(tmp_path: Path) -> None:
    st = Storage(str(tmp_path))
    up = Uploads(st).start("x/y")
    Uploads(st).append(up, reader(b"hello "), None)
    again = Uploads(st)  # a restarted server
    got = again.get("x/y", up.uuid)
    assert got.offset == 6 and got.hasher is None
    again.append(got, reader(b"world"), None)
    again.finish(got, hx(b"hello world"))
    for repo, uid in (("x/y", up.uuid), ("x/y", "../../etc"), ("other", "0" * 32)):
        with pytest.raises(RegistryError) as exc:
            again.get(repo, uid)
        assert exc.value.code == "BLOB_UPLOAD_UNKNOWN"


def test_wrong_digest_ends_the_session(tmp_path: Path) -> None:
    st = Storage(str(tmp_path))
    ups = Uploads(st)
    up = ups.start("a")
    ups.append(up, reader(b"abc"), 3)
    with pytest.raises(RegistryError) as exc:
        ups.finish(up, hx(b"abd"))
    assert exc.value.code == "DIGEST_INVALID" and not st.has_blob(hx(b"abc"))
    assert os.listdir(st.uploads) == []


def test_purge_of_idle_sessions(tmp_path: Path) -> None:
    st = Storage(str(tmp_path))
    ups = Uploads(st)
    old, new = ups.start("a"), ups.start("a")
    os.utime(old.path, (1, 1))
    assert ups.purge(3600, dry_run=True) == [old.uuid]
    assert ups.purge(3600) == [old.uuid]
    assert sorted(os.listdir(st.uploads)) == [new.uuid]
    with pytest.raises(RegistryError):
        ups.append(old, reader(b"x"), None)  # a purged live session is unknown


def test_repositories_tags_referrers_catalog(tmp_path: Path) -> None:
    st = Storage(str(tmp_path))
    body = b'{"schemaVersion":2}'
    st.put_manifest("lib/app", body, hx(body), mf.OCI_MANIFEST)
    st.set_tag("lib/app", "v1", hx(body))
    st.set_tag("lib/app", "v2", hx(body))
    st.link_layer("lib/other", hx(b"l"))
    assert st.catalog() == ["lib/app", "lib/other"]
    assert st.tags("lib/app") == ["v1", "v2"]
    assert st.resolve_tag("lib/app", "v2") == hx(body)
    assert st.manifest_type("lib/app", hx(body)) == mf.OCI_MANIFEST
    st.add_referrer("lib/app", "ab" * 32, hx(body), {"digest": f"sha256:{hx(body)}"})
    assert st.referrers("lib/app", "ab" * 32) == [{"digest": f"sha256:{hx(body)}"}]
    st.untag_digest("lib/app", hx(body))
    assert st.tags("lib/app") == []
    st.delete_revision("lib/app", hx(body))
    assert st.referrers("lib/app", "ab" * 32) == []  # a deleted manifest is not listed
    with pytest.raises(RegistryError):
        st.repo_dir("../escape")
    assert not any(p.name == "escape" for p in tmp_path.parent.iterdir())


def test_gc_keeps_index_children_and_their_blobs(tmp_path: Path) -> None:
    st = Storage(str(tmp_path))
    layer, config = b"layer", b"{}"
    for blob in (layer, config, b"stray"):
        st.put_blob(blob, hx(blob))
        st.link_layer("r", hx(blob))
    image = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mf.OCI_MANIFEST,
            "config": {"digest": f"sha256:{hx(config)}", "size": 2},
            "layers": [{"digest": f"sha256:{hx(layer)}", "size": 5}],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mf.OCI_INDEX,
            "manifests": [{"digest": f"sha256:{hx(image)}", "size": len(image)}],
        }
    ).encode()
    st.put_manifest("r", image, hx(image), mf.OCI_MANIFEST)
    st.put_manifest("r", index, hx(index), mf.OCI_INDEX)
    report = collect(st, dry_run=True)
    assert report.swept == [hx(b"stray")] and st.has_blob(hx(b"stray"))
    report = collect(st)
    assert report.swept == [hx(b"stray")] and report.freed == 5
    assert not st.has_blob(hx(b"stray")) and hx(b"stray") not in st.layers("r")
    assert all(st.has_blob(hx(b)) for b in (layer, config, image, index))


def test_gc_removes_old_crash_leftovers_only(tmp_path: Path) -> None:
    st = Storage(str(tmp_path))
    st.set_tag("r", "v1", "a" * 64)
    old = Path(st.tmp) / "x.tmp-1"
    fresh = tmp_path / "repositories" / "r" / "_manifests" / "tags" / "v2.tmp-2"
    old.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    os.utime(old, (1, 1))
    assert collect(st, dry_run=True).leftovers == [str(old)] and old.exists()
    assert collect(st).leftovers == [str(old)]
    assert not old.exists() and fresh.exists()
    assert st.tags("r") == ["v1"]
