"""engine/images.py's ImageService, built on its own: the real image store on a temporary
data root, a fake event bus and a container index holding a container of the image."""

from __future__ import annotations

import asyncio
import io
import tarfile
from pathlib import Path

import pytest
from fakes_services import Events, container, index_of

from wharfie.engine.images import ImageService
from wharfie.engine.store import Store
from wharfie.errors import Conflict, InvalidArgument, NotFound
from wharfie.images import ImageStore


def layer_tar() -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"hello\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_the_store_operations_with_their_events(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    try:
        images = ImageStore(store.db, str(tmp_path), store.lock)
        events = Events()
        index = index_of()
        svc = ImageService(images, events, index)
        assert svc.list_images(False, "") == []
        rec = svc.import_tar(layer_tar(), "mine:1", [], "imported", "")
        svc.imported(rec, "mine:1")
        svc.tag("mine:1", "other", "")
        (row,) = svc.list_images(False, "")
        assert sorted(row["RepoTags"]) == ["mine:1", "other:latest"]
        assert row["Containers"] == 0
        (row,) = svc.list_images(False, '{"reference":{"other":true}}')
        assert row["RepoTags"] == ["other:latest"]
        assert svc.inspect("other")["Id"] == rec.id
        assert svc.history("mine:1")[0]["Id"] == rec.id
        c = container("c1" * 32, "web", running=True)
        c.doc["Image"] = rec.id
        index.add(c)
        assert svc.list_images(False, "")[0]["Containers"] == 1
        with pytest.raises(Conflict):
            asyncio.run(svc.remove(rec.id, force=False, noprune=False))
        out = asyncio.run(svc.remove("other", force=False, noprune=False))
        assert out == [{"Untagged": "other:latest"}]
        assert events.actions("image") == ["import", "tag", "untag"]
    finally:
        store.close()


def test_refusals(tmp_path: Path) -> None:
    store = Store(str(tmp_path))
    try:
        svc = ImageService(ImageStore(store.db, str(tmp_path), store.lock), Events(), index_of())
        with pytest.raises(NotFound):
            svc.inspect("nothing:here")
        with pytest.raises(InvalidArgument):
            svc.inspect("UPPER")  # a malformed reference is a 400, as moby's
        with pytest.raises(InvalidArgument, match="no images specified"):
            svc.save([])
        with pytest.raises(InvalidArgument):
            svc.configure(["not a url"], [], [])
        svc.configure(["https://mirror.example:5000"], ["10.0.0.0/8"], [])
        assert svc.settings.mirrors["docker.io"] == ["https://mirror.example:5000"]
    finally:
        store.close()
