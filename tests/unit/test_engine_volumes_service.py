"""engine/volumes.py's Volumes, built on its own: the container index and an event bus
are fakes, the `local` driver is the real one on a temporary data root (no root needed:
plain directories, no device volume)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fakes_services import Events, container, index_of

from wharfie.engine.volumes import ANON_LABEL, Volumes
from wharfie.errors import Conflict, InvalidArgument, NotFound


def test_create_inspect_list_and_remove(tmp_path: Path) -> None:
    events = Events()
    vols = Volumes(index_of(), events, str(tmp_path))
    made = vols.create({"Name": "data", "Labels": {"k": "v"}})
    assert made["Name"] == "data"
    assert made["Driver"] == "local"
    assert made["Labels"] == {"k": "v"}
    assert made["Options"] is None
    assert made["Mountpoint"] == str(tmp_path / "volumes" / "data" / "_data")
    assert vols.inspect("data") == made
    vols.create({"Name": "data"})  # again: the same volume, no second event
    assert events.actions("volume") == ["create"]
    listed = vols.list_volumes('{"label":{"k=v":true}}')
    assert [v["Name"] for v in listed["Volumes"]] == ["data"]
    assert vols.list_volumes('{"name":{"nope":true}}')["Volumes"] == []
    asyncio.run(vols.remove("data", force=False))
    assert events.actions("volume") == ["create", "destroy"]
    with pytest.raises(NotFound, match="get data: no such volume"):
        vols.inspect("data")
    asyncio.run(vols.remove("data", force=True))  # forced: a missing volume is fine


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    vols = Volumes(index_of(), Events(), str(tmp_path))
    with pytest.raises(InvalidArgument, match="cannot unmarshal"):
        vols.create(["not", "an", "object"])
    with pytest.raises(InvalidArgument, match=r"CreateOptions\.Labels"):
        vols.create({"Labels": {"k": 1}})
    with pytest.raises(NotFound, match='plugin "nfs" not found'):
        vols.create({"Name": "x", "Driver": "nfs"})
    with pytest.raises(InvalidArgument, match=r"invalid filter 'all': strconv\.ParseBool"):
        asyncio.run(vols.prune('{"all":{"maybe":true}}', (1, 44)))


def test_a_volume_in_use_stays_and_dangling_is_derived_from_containers(tmp_path: Path) -> None:
    c = container("c1" * 32, "web")
    index = index_of(c)
    vols = Volumes(index, Events(), str(tmp_path))
    vols.create({"Name": "used"})
    vols.create({"Name": "free"})
    c.private["mounts"] = [{"Type": "volume", "Name": "used", "Destination": "/d"}]
    with pytest.raises(Conflict, match=f"remove used: volume is in use - \\[{c.id}\\]"):
        asyncio.run(vols.remove("used", force=True))
    dangling = vols.list_volumes('{"dangling":{"true":true}}')["Volumes"]
    assert [v["Name"] for v in dangling] == ["free"]
    usage = {v["Name"]: v["UsageData"]["RefCount"] for v in vols.usage()}
    assert usage == {"used": 1, "free": 0}


def test_attach_makes_anonymous_volumes_and_prune_takes_only_those(tmp_path: Path) -> None:
    events = Events()
    vols = Volumes(index_of(), events, str(tmp_path))
    vols.create({"Name": "named"})
    points = vols.attach(
        "c1" * 32, [{"Type": "volume", "Name": "", "Destination": "/data"}, {"Type": "bind"}]
    )
    anon = points[0]["Name"]
    assert len(anon) == 64
    assert points[0]["Source"] == str(tmp_path / "volumes" / anon / "_data")
    assert ANON_LABEL in vols.get(anon)[0].labels
    out = asyncio.run(vols.prune("", (1, 44)))
    assert out["VolumesDeleted"] == [anon]
    assert [v["Name"] for v in vols.list_volumes("")["Volumes"]] == ["named"]
    everything = asyncio.run(vols.prune("", (1, 41)))  # before 1.42: named ones too
    assert everything["VolumesDeleted"] == ["named"]
    assert events.actions("volume") == [
        "create",
        "create",
        "destroy",
        "prune",
        "destroy",
        "prune",
    ]
