"""The typed container record and its shapes: the stored record round-trips (and keeps
the shape data roots have), inspect's keys come in moby's order, the index finds and
renames."""

from __future__ import annotations

import pytest
from fakes import FakeStore, RecordingEvents, bare_container

from wharfie.engine import present_container
from wharfie.engine.index import ContainerIndex
from wharfie.engine.lifecycle_state import Move, transition
from wharfie.engine.model import Container, HealthRecord
from wharfie.errors import InvalidArgument, NotFound

# A record as today's and older wharfieds stored it (keys under "_w" from every service).
STORED = {
    "Id": "a" * 64,
    "Created": "2026-01-01T00:00:00.123Z",
    "Path": "sh",
    "Args": ["-c", "true"],
    "State": {
        "Status": "exited",
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 2,
        "Error": "",
        "StartedAt": "2026-01-01T00:00:01Z",
        "FinishedAt": "2026-01-01T00:00:02Z",
    },
    "Image": "sha256:" + "b" * 64,
    "ResolvConfPath": "/r",
    "HostnamePath": "/h",
    "HostsPath": "/hs",
    "LogPath": "/l",
    "Name": "/web",
    "RestartCount": 4,
    "Driver": "overlay2",
    "HostConfig": {"NetworkMode": "bridge"},
    "Config": {"Image": "busybox"},
    "NetworkSettings": {"Networks": {}},
    "_w": {
        "runtime": "runc",
        "manual_stop": True,
        "started_once": True,
        "restart_delay": 0.4,
        "health": {"Status": "healthy", "FailingStreak": 0, "Log": []},
        "mounts": [{"Type": "volume"}],
        "endpoints": {"n1": {"ip": "10.0.0.2"}},
        "links": [{"child": "b" * 64, "alias": "db"}],
    },
}


def test_a_stored_record_round_trips_exactly() -> None:
    c = Container.from_stored(STORED)
    assert (c.id, c.name, c.path, c.args, c.restart_count) == (
        "a" * 64,
        "web",
        "sh",
        ["-c", "true"],
        4,
    )
    assert (c.runtime, c.manual_stop, c.started_once, c.restart_delay) == ("runc", True, True, 0.4)
    assert c.health == HealthRecord(status="healthy")
    assert c.state.exit_code == 2 and c.image_id == STORED["Image"]
    assert set(c.private) == {"mounts", "endpoints", "links"}, "other services' keys stay"
    assert present_container.stored(c) == STORED


def test_inspect_has_mobys_key_order_and_no_private_fields() -> None:
    doc = present_container.inspect(Container.from_stored(STORED))
    assert list(doc)[:12] == [
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Image",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "Name",
        "RestartCount",
    ]
    assert "_w" not in doc and doc["State"]["Health"]["Status"] == "healthy"


def test_inspect_reply_drops_empty_sizes_and_a_null_init() -> None:
    c = Container.from_stored(
        {**STORED, "SizeRw": None, "HostConfig": {"Init": None, "NetworkMode": "bridge"}}
    )
    doc = present_container.inspect_reply(c, None, [])
    assert "SizeRw" not in doc and "Init" not in doc["HostConfig"]
    assert "RuntimeWarnings" not in doc
    doc = present_container.inspect_reply(c, (1, 2), ["emulated"])
    assert (doc["SizeRw"], doc["SizeRootFs"], doc["RuntimeWarnings"]) == (1, 2, ["emulated"])


def test_a_record_without_bookkeeping_loads_with_defaults() -> None:
    old = {k: v for k, v in STORED.items() if k not in ("_w", "RestartCount")}
    c = Container.from_stored(old)
    assert (c.runtime, c.manual_stop, c.restart_count, c.health, c.private) == (
        "",
        None,
        0,
        None,
        {},
    )
    assert present_container.stored(c)["_w"] == {"runtime": ""}


def test_the_index_finds_by_id_name_and_prefix() -> None:
    index = ContainerIndex(FakeStore())
    a, b = bare_container("ab" + "0" * 62, "one"), bare_container("ac" + "0" * 62, "two")
    index.add(a)
    index.add(b)
    assert index.find("one") is a and index.find("/two") is b and index.find("ab") is a
    with pytest.raises(InvalidArgument, match="multiple IDs found with provided prefix: a"):
        index.find("a")
    with pytest.raises(NotFound, match="No such container: zz"):
        index.find("zz")
    index.rename(a, "uno")
    assert index.find("uno") is a and a.name == "uno"
    with pytest.raises(NotFound):
        index.find("one")
    index.drop(b)
    assert index.all() == [a] and index.get(b.id) is None


def test_the_index_saves_the_stored_shape() -> None:
    store = FakeStore()
    index = ContainerIndex(store)
    c = bare_container()
    store.insert_container(c.id, c.name, present_container.stored(c))
    transition(c, Move.START, RecordingEvents(), pid=3)
    index.save(c)
    saved = store.doc(c.id)
    assert saved["State"]["Pid"] == 3 and saved["_w"]["started_once"] is True
    assert Container.from_stored(saved).state == c.state


def test_no_module_reads_a_typed_field_from_the_private_dict() -> None:
    """runtime, manual_stop, started_once, restart_delay and health are typed fields of
    the record now; `c.private` only holds other services' keys, so reading one of these
    from it would silently give None (e.g. an exec run by the default runtime)."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "wharfie"
    typed = "runtime|manual_stop|started_once|restart_delay|health"
    pattern = re.compile(rf"private(\.get\(|\.pop\(|\.setdefault\(|\[)\s*[\"']({typed})[\"']")
    wrong = [
        f"{f.relative_to(src)}:{n}: {line.strip()}"
        for f in sorted(src.rglob("*.py"))
        for n, line in enumerate(f.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert wrong == []
