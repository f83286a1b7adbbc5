"""engine/files.py's Files (diff and commit) and engine/builds.py's Builds (start-up
cleanup, tag checks, cache usage and prune), each built on its own: the real image store
and build cache on a temporary data root, fakes for the containers service and the event
bus (no mount is made: no root)."""

from __future__ import annotations

import asyncio
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes_services import Events, Pulls, RootfsOwner, RunContainers, container, index_of

from wharfie.build.cache import BuildCache
from wharfie.engine.builds import Builds
from wharfie.engine.buildsteps import STEP_LABEL, BuildOptions
from wharfie.engine.files import Files
from wharfie.engine.paths import Paths
from wharfie.engine.store import Store
from wharfie.engine.volumes import Volumes
from wharfie.errors import InvalidArgument
from wharfie.images import ImageRecord, ImageStore


def one_file_layer(name: str = "base.txt") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"base"))
    buf.seek(0)
    return buf


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(str(tmp_path))
    yield s
    s.close()


def image(images: ImageStore, ref: str | None = "base:1") -> ImageRecord:
    return images.import_tar(one_file_layer(), reference=ref, changes=[], message="")


def test_files_diff_and_commit(tmp_path: Path, store: Store) -> None:
    images = ImageStore(store.db, str(tmp_path), store.lock)
    base = image(images)
    c = container("c1" * 32, "web", running=True)
    c.doc["Image"] = base.id
    index = index_of(c)
    events, owner = Events(), RootfsOwner()
    paths = Paths(str(tmp_path), str(tmp_path / "exec"))
    files = Files(images, owner, Volumes(index, events, str(tmp_path)), events, paths)
    upper = Path(paths.rw_upper(c.id))
    upper.mkdir(parents=True)
    (upper / "new.txt").write_text("x")
    assert files.changes(c) == [{"Path": "/new.txt", "Kind": 1}]
    new_id = asyncio.run(
        files.commit(
            c,
            reference="web:snap",
            author="me",
            comment="snap",
            changes=["ENV A=1"],
            config=None,
            pause=True,
        )
    )
    rec = images.resolve("web:snap")
    assert rec.id == new_id and rec.parent == base.id
    assert len(rec.diff_ids) == 2
    assert "A=1" in rec.config["config"]["Env"]
    assert owner.calls == [f"pause {c.id[:4]}", f"unpause {c.id[:4]}"]
    assert events.seen == [("container", "commit", c.id, {**c.event_attrs(), "comment": "snap"})]


def test_builds_start_up_check_usage_and_prune(tmp_path: Path, store: Store) -> None:
    leftover = tmp_path / "builds" / "deadbeef" / "context"
    leftover.mkdir(parents=True)
    images = ImageStore(store.db, str(tmp_path), store.lock)
    step = container("c1" * 32, "step", config={"Labels": {STEP_LABEL: "1"}})
    other = container("c2" * 32, "other")
    index = index_of(step, other)
    runs = RunContainers(index)
    cache = BuildCache(store.db, store.lock)
    builds = Builds(
        cache, images, Pulls(), runs, index, Events(), Paths(str(tmp_path), str(tmp_path / "x"))
    )
    assert not leftover.parent.exists()  # a dead daemon's build directory is gone
    asyncio.run(builds.recover())
    assert runs.removed == [step.id]
    with pytest.raises(InvalidArgument):
        builds.check(BuildOptions(tags=["Bad:Tag"]))
    builds.check(BuildOptions(tags=["good:1"]))
    assert builds.usage() == []
    loose = image(images, None)
    tagged = image(images)
    used = images.import_tar(one_file_layer("u"), reference=None, changes=[], message="")
    other.doc["Image"] = used.id
    cache.put("sha256:" + "1" * 64, loose.id, 10, "RUN a")
    cache.put("sha256:" + "2" * 64, tagged.id, 20, "RUN b")
    cache.put("sha256:" + "3" * 64, used.id, 30, "RUN c")
    usage = {u["Description"]: u["InUse"] for u in builds.usage()}
    assert usage == {"RUN a": False, "RUN b": True, "RUN c": False}
    out = builds.prune(0, everything=True)
    assert sorted(out["CachesDeleted"]) == ["sha256:" + d * 64 for d in "123"]
    assert out["SpaceReclaimed"] == 10  # only the image nothing else holds
    remaining = {r.id for r in images.list(all=True)}
    assert loose.id not in remaining
    assert {tagged.id, used.id} <= remaining
