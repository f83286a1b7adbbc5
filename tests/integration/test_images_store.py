"""The image store on a real data root: import, resolve, overlay mounts, commit, rmi, prune.

Root only (layer extraction sets ownership, overlay mounts). Every test has its own data
root and fails if it leaves a mount behind.
"""

from __future__ import annotations

import io
import os
import sqlite3
import tarfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.bundle import BusyboxMissing, busybox_rootfs
from wharfie import snapshots
from wharfie.engine import schema
from wharfie.errors import Conflict, InvalidArgument, NotFound
from wharfie.images import ImageStore, archive

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        root = busybox_rootfs(tmp_path_factory.mktemp("bb") / "rootfs")
    except BusyboxMissing as exc:
        pytest.skip(str(exc))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.add(root, arcname=".")
    return buf.getvalue()


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split()[4] for ln in f if ln.split()[4].startswith(str(path))]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ImageStore]:
    db = sqlite3.connect(str(tmp_path / "wharfie.db"), check_same_thread=False)
    schema.migrate(db, "the test database")
    yield ImageStore(db, str(tmp_path / "data"), threading.Lock())
    leftover = _mounts_under(tmp_path)
    for m in reversed(leftover):
        snapshots.unmount(m)
    db.close()
    assert not leftover, f"mounts left behind: {leftover}"


def _import(store: ImageStore, data: bytes, ref: str | None = "busybox", **kw: object):  # type: ignore[no-untyped-def]
    return store.import_tar(io.BytesIO(data), reference=ref, changes=kw.pop("changes", []), **kw)  # type: ignore[arg-type]


def _no_users(_: str) -> list[str]:
    return []


def test_import_and_resolve(store: ImageStore, busybox_tar: bytes) -> None:
    # How long an import takes is measured by bench/images.py, not asserted here.
    rec = _import(store, busybox_tar, changes=['CMD ["sh"]'], message="hello")
    assert rec.repo_tags == ["busybox:latest"]
    assert rec.config["config"]["Cmd"] == ["sh"]
    assert rec.config["os"] == "linux" and rec.config["architecture"]
    assert rec.config["history"][0]["comment"] == "hello"
    assert rec.size > 1_000_000
    for ref in (
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox:latest",
        "library/busybox",
        rec.id,
        rec.id[7:],
        rec.id[7:8],
        rec.id[:19],
    ):
        assert store.resolve(ref).id == rec.id, ref
    with pytest.raises(NotFound) as exc:
        store.resolve("nosuch")
    assert str(exc.value) == "No such image: nosuch:latest"
    with pytest.raises(NotFound):
        store.resolve("busybox:other")
    blob = store.content.path(rec.diff_ids[0])
    assert os.path.getsize(blob) == len(busybox_tar)  # the uncompressed tar
    layer = store.layer_dirs(rec)[0]
    assert os.path.islink(os.path.join(layer, "bin", "sh"))
    assert os.stat(os.path.join(layer, "tmp")).st_mode & 0o1777 == 0o1777


def test_import_compressed(store: ImageStore, busybox_tar: bytes) -> None:
    import gzip
    import lzma

    a = _import(store, gzip.compress(busybox_tar, 1), ref="gz:1")
    b = _import(store, lzma.compress(busybox_tar, preset=0), ref=None)
    assert a.diff_ids == b.diff_ids
    plain = _import(store, busybox_tar, ref="plain:1")
    assert plain.diff_ids == a.diff_ids  # same uncompressed layer, stored once
    assert store.list(filters={"reference": ["gz"]})[0].id == a.id


def test_reload_from_db(tmp_path: Path, busybox_tar: bytes) -> None:
    db = sqlite3.connect(str(tmp_path / "db"), check_same_thread=False)
    schema.migrate(db, "the test database")
    rec = ImageStore(db, str(tmp_path / "data"), threading.Lock()).import_tar(
        io.BytesIO(busybox_tar), reference="re:1", changes=[]
    )
    again = ImageStore(db, str(tmp_path / "data"), threading.Lock())
    got = again.resolve("re:1")
    assert got.id == rec.id and got.repo_tags == ["re:1"] and got.size == rec.size
    db.close()


@pytest.mark.parametrize("cut", ["truncated", "garbage", "bad-change", "escape"])
def test_failed_import_leaves_nothing(store: ImageStore, busybox_tar: bytes, cut: str) -> None:
    data = {
        "truncated": busybox_tar[: len(busybox_tar) // 2],
        "garbage": b"this is no tar" * 100,
        "bad-change": busybox_tar,
        "escape": _tar([("../evil", b"x")]),
    }[cut]
    changes = ["RUN x"] if cut == "bad-change" else []
    with pytest.raises(InvalidArgument):
        _import(store, data, changes=changes)
    assert os.listdir(os.path.join(store.content.root, "sha256")) == []
    assert os.listdir(os.path.join(store.content.root, "ingest")) == []
    assert [n for n in os.listdir(store.snapshots.root) if n != "l"] == []
    assert store.list(all=True) == []
    assert not os.path.exists(os.path.join(os.path.dirname(store.snapshots.root), "evil"))


def _tar(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_overlay_commit_whiteouts(store: ImageStore, busybox_tar: bytes, tmp_path: Path) -> None:
    base = _import(store, busybox_tar)
    upper, work = snapshots.prepare_rw(str(tmp_path / "c1"))
    assert upper.endswith("rw/upper") and os.path.isdir(work)
    merged = tmp_path / "m1"
    merged.mkdir()
    snapshots.mount(snapshots.overlay(store.layer_dirs(base), upper, work), str(merged))
    try:
        assert os.path.islink(merged / "bin" / "sh")
        (merged / "etc" / "hostname").unlink()
        (merged / "added.txt").write_text("new")
        os.mkdir(merged / "home" / "test" / "d")
        assert archive.changes(upper, store.layer_dirs(base)) == [
            {"Path": "/added.txt", "Kind": 1},
            {"Path": "/etc", "Kind": 0},
            {"Path": "/etc/hostname", "Kind": 2},
            {"Path": "/home", "Kind": 0},
            {"Path": "/home/test", "Kind": 0},
            {"Path": "/home/test/d", "Kind": 1},
        ]
        new = store.commit(
            upper=upper,
            lowers=store.layer_dirs(base),
            parent=base,
            container_config={"Cmd": ["sh", "-c", "x"], "Env": ["A=1"]},
            reference="committed:v1",
            author="me",
            comment="snap",
            changes=["ENV B=2"],
        )
    finally:
        snapshots.unmount(str(merged))
    assert new.parent == base.id and new.repo_tags == ["committed:v1"]
    assert new.config["config"]["Env"] == ["A=1", "B=2"]
    assert new.config["history"][-1]["created_by"] == "sh -c x"
    assert new.config["author"] == "me"
    with tarfile.open(store.content.path(new.diff_ids[-1])) as tf:
        names = set(tf.getnames())
    assert {"added.txt", "etc/.wh.hostname", "home/test/d"} <= names
    top = store.layer_dirs(new)[0]
    st = os.lstat(os.path.join(top, "etc", "hostname"))
    assert st.st_rdev == 0 and (st.st_mode & 0o170000) == 0o020000  # overlay whiteout
    ro = tmp_path / "m2"
    ro.mkdir()
    snapshots.mount(snapshots.overlay(store.layer_dirs(new), "", ""), str(ro))
    try:
        assert not (ro / "etc" / "hostname").exists()
        assert (ro / "added.txt").read_text() == "new"
        assert (ro / "etc" / "passwd").exists()
    finally:
        snapshots.unmount(str(ro))
    hist = store.history(new)
    assert [h["Id"] for h in hist] == [new.id, base.id]
    assert hist[0]["Tags"] == ["committed:v1"] and hist[0]["Comment"] == "snap"
    info = store.inspect(new)
    assert info["Parent"] == base.id and len(info["RootFS"]["Layers"]) == 2
    assert info["GraphDriver"]["Data"]["LowerDir"] == store.layer_dirs(base)[0]


def test_empty_commit_adds_no_layer(store: ImageStore, busybox_tar: bytes, tmp_path: Path) -> None:
    """As dockerd: committing an unchanged container gives an image with its parent's layers
    and an `empty_layer` history entry (checked against dockerd 20.10: RootFS.Layers stays 1
    for busybox, `docker history` shows the commit with 0B)."""
    base = _import(store, busybox_tar)
    upper, _ = snapshots.prepare_rw(str(tmp_path / "c"))
    new = store.commit(
        upper=upper,
        lowers=[],
        parent=base,
        container_config={},
        reference=None,
        author="",
        comment="",
        changes=[],
    )
    assert new.diff_ids == base.diff_ids and new.repo_tags == []
    assert new.config["history"][-1]["empty_layer"] is True
    assert new.id != base.id


def test_opaque_dir_round_trip(store: ImageStore, busybox_tar: bytes, tmp_path: Path) -> None:
    base = _import(store, busybox_tar)
    upper, work = snapshots.prepare_rw(str(tmp_path / "c"))
    merged = tmp_path / "m"
    merged.mkdir()
    snapshots.mount(snapshots.overlay(store.layer_dirs(base), upper, work), str(merged))
    try:
        import shutil

        shutil.rmtree(merged / "etc")
        os.mkdir(merged / "etc")  # overlay marks the new dir opaque
        (merged / "etc" / "only").write_text("1")
        new = store.commit(
            upper=upper,
            lowers=[],
            parent=base,
            container_config={},
            reference=None,
            author="",
            comment="",
            changes=[],
        )
    finally:
        snapshots.unmount(str(merged))
    with tarfile.open(store.content.path(new.diff_ids[-1])) as tf:
        assert "etc/.wh..wh..opq" in tf.getnames()
    top = store.layer_dirs(new)[0]
    assert os.getxattr(os.path.join(top, "etc"), "trusted.overlay.opaque") == b"y"
    snapshots.mount(snapshots.overlay(store.layer_dirs(new), "", ""), str(merged))
    try:
        assert os.listdir(merged / "etc") == ["only"]
    finally:
        snapshots.unmount(str(merged))


def test_tag_untag_delete(store: ImageStore, busybox_tar: bytes) -> None:
    rec = _import(store, busybox_tar)
    store.tag("busybox", "localhost:5000/x", "1")
    store.tag(rec.id[7:19], "other:2", "")
    assert sorted(store.resolve("busybox").repo_tags) == [
        "busybox:latest",
        "localhost:5000/x:1",
        "other:2",
    ]
    with pytest.raises(InvalidArgument, match="must be lowercase"):
        store.tag("busybox", "Bad", "")
    with pytest.raises(InvalidArgument, match="invalid reference format"):
        store.tag("busybox", "bad name", "")
    with pytest.raises(Conflict) as exc:
        store.remove(rec.id, force=False, noprune=False, users=_no_users)
    assert str(exc.value) == (
        f"conflict: unable to delete {rec.id[7:19]} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    assert store.remove("other:2", force=False, noprune=False, users=_no_users) == [
        {"Untagged": "other:2"}
    ]
    assert store.remove("localhost:5000/x:1", force=False, noprune=False, users=_no_users) == [
        {"Untagged": "localhost:5000/x:1"}
    ]
    out = store.remove("busybox", force=False, noprune=False, users=_no_users)
    assert out[:2] == [{"Untagged": "busybox:latest"}, {"Deleted": rec.id}]
    assert out[2] == {"Deleted": rec.chain_ids[0]}
    assert store.list(all=True) == []
    assert os.listdir(os.path.join(store.content.root, "sha256")) == []
    assert [n for n in os.listdir(store.snapshots.root) if n != "l"] == []
    assert os.listdir(os.path.join(store.snapshots.root, "l")) == []
    with pytest.raises(NotFound, match="No such image: busybox:latest"):
        store.remove("busybox", force=False, noprune=False, users=_no_users)


def test_force_by_id_untags_all(store: ImageStore, busybox_tar: bytes) -> None:
    rec = _import(store, busybox_tar)
    store.tag("busybox", "b2", "")
    out = store.remove(rec.id, force=True, noprune=False, users=_no_users)
    assert {"Untagged": "busybox:latest"} in out and {"Untagged": "b2:latest"} in out
    assert {"Deleted": rec.id} in out


def test_rmi_conflicts_with_containers(store: ImageStore, busybox_tar: bytes) -> None:
    rec = _import(store, busybox_tar)
    cid = "3f2a1b" + "0" * 58

    def users(image_id: str) -> list[str]:
        return [cid] if image_id == rec.id else []

    with pytest.raises(Conflict) as exc:
        store.remove("busybox", force=False, noprune=False, users=users)
    assert str(exc.value) == (
        'conflict: unable to remove repository reference "busybox" (must force) - container '
        f"{cid[:12]} is using its referenced image {rec.id[7:19]}"
    )
    with pytest.raises(Conflict) as exc:
        store.remove(rec.id[7:], force=False, noprune=False, users=users)
    assert str(exc.value) == (
        f"conflict: unable to delete {rec.id[7:19]} (must be forced) - "
        f"image is being used by stopped container {cid[:12]}"
    )
    with pytest.raises(Conflict) as exc:
        store.remove(rec.id, force=True, noprune=False, users=users, running=lambda _: True)
    assert str(exc.value) == (
        f"conflict: unable to delete {rec.id[7:19]} (cannot be forced) - "
        f"image is being used by running container {cid[:12]}"
    )
    # forced while a stopped container uses it: deleted, but its layer stays until gc
    out = store.remove("busybox", force=True, noprune=False, users=users)
    assert out == [{"Untagged": "busybox:latest"}, {"Deleted": rec.id}]
    layer = store.snapshots.path(rec.chain_ids[0])
    assert os.path.isdir(layer)
    assert store.gc_layers({layer}) == 0 and os.path.isdir(layer)
    assert store.gc_layers(set()) == rec.size and not os.path.exists(layer)


def test_child_blocks_parent_delete(store: ImageStore, busybox_tar: bytes, tmp_path: Path) -> None:
    base = _import(store, busybox_tar)
    upper, _ = snapshots.prepare_rw(str(tmp_path / "c"))
    child = store.commit(
        upper=upper,
        lowers=[],
        parent=base,
        container_config={},
        reference="child:1",
        author="",
        comment="",
        changes=[],
    )
    with pytest.raises(Conflict, match=r"\(cannot be forced\) - image has dependent child images"):
        store.remove(base.id, force=True, noprune=False, users=_no_users)
    assert store.remove("busybox", force=False, noprune=False, users=_no_users) == [
        {"Untagged": "busybox:latest"}
    ]
    assert store.list() == [child]  # the untagged parent is an intermediate image
    assert {r.id for r in store.list(all=True)} == {base.id, child.id}
    out = store.remove("child:1", force=False, noprune=False, users=_no_users)
    assert [o.get("Deleted") for o in out if o.get("Deleted") in (base.id, child.id)] == [
        child.id,
        base.id,
    ]  # the dangling parent is pruned too
    assert store.list(all=True) == []


def test_list_filters(store: ImageStore, busybox_tar: bytes) -> None:
    a = _import(store, busybox_tar, ref="a:1", changes=["LABEL k=v"])
    time.sleep(0.01)
    b = _import(store, busybox_tar, ref=None)
    time.sleep(0.01)
    c = _import(store, busybox_tar, ref="c:1")
    assert [r.id for r in store.list()] == [c.id, b.id, a.id]
    assert [r.id for r in store.list(filters={"dangling": ["true"]})] == [b.id]
    assert [r.id for r in store.list(filters={"dangling": ["false"]})] == [c.id, a.id]
    assert [r.id for r in store.list(filters={"label": ["k"]})] == [a.id]
    assert [r.id for r in store.list(filters={"label": ["k=w"]})] == []
    assert [r.id for r in store.list(filters={"reference": ["c:*"]})] == [c.id]
    assert [r.id for r in store.list(filters={"before": ["c:1"]})] == [b.id, a.id]
    assert [r.id for r in store.list(filters={"since": ["a:1"]})] == [c.id, b.id]
    with pytest.raises(InvalidArgument):
        store.list(filters={"bogus": ["1"]})
    s = store.summary(a, 0)
    assert s["RepoTags"] == ["a:1"] and s["Labels"] == {"k": "v"}
    assert store.layers_size() == a.size  # one shared layer


def test_prune(store: ImageStore, busybox_tar: bytes) -> None:
    tagged = _import(store, busybox_tar, ref="keep:1")
    dangling = _import(store, busybox_tar, ref=None)
    used = _import(store, busybox_tar, ref=None)
    users = {used.id: ["c" * 64]}
    out = store.prune(dangling_only=True, users=lambda i: users.get(i, []))
    assert out["ImagesDeleted"] == [{"Deleted": dangling.id}]
    assert out["SpaceReclaimed"] == 0  # its layer is shared with the others
    assert {r.id for r in store.list(all=True)} == {tagged.id, used.id}
    out = store.prune(dangling_only=False, users=lambda i: users.get(i, []))
    assert out["ImagesDeleted"][:2] == [{"Untagged": "keep:1"}, {"Deleted": tagged.id}]
    assert [r.id for r in store.list(all=True)] == [used.id]
    out = store.prune(dangling_only=False, users=_no_users)
    assert out["SpaceReclaimed"] == used.size
    assert store.layers_size() == 0


def test_concurrent_imports_share_one_layer(store: ImageStore, busybox_tar: bytes) -> None:
    results: list[object] = []

    def run(i: int) -> None:
        try:
            results.append(_import(store, busybox_tar, ref=f"conc:{i}"))
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.diff_ids[0] for r in results}) == 1  # type: ignore[attr-defined]
    assert [n for n in os.listdir(store.snapshots.root) if n != "l"] == [
        results[0].chain_ids[0][7:]
    ]  # type: ignore[attr-defined]
    assert sorted(t for r in store.list() for t in r.repo_tags) == [f"conc:{i}" for i in range(4)]
