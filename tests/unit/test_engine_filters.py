"""engine.filters: the filters query parameter and docker ps matching."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wharfie.engine import filters as f
from wharfie.errors import InvalidArgument

VIEW = f.ContainerView(
    id="4f66ad9a0b2e" + "0" * 52,
    names=["web"],
    image="busybox",
    image_id="sha256:" + "ab" * 32,
    labels={"com.docker.compose.project": "demo", "tier": "front", "empty": ""},
    state="running",
    exit_code=0,
    created=1000.0,
    ancestor_ids=frozenset({"sha256:" + "ab" * 32, "sha256:" + "cd" * 32}),
    health="healthy",
    networks={"bridge": "9f" * 32, "front": "12ab" + "0" * 60},
)


def match(filters: dict[str, Any], view: f.ContainerView = VIEW, **kw: Any) -> bool:
    return f.match_container(f.parse(json.dumps(filters)), view, **kw)


def test_parse_both_forms() -> None:
    assert f.parse('{"label":{"a=b":true,"c":true}}') == {"label": ["a=b", "c"]}
    assert f.parse('{"label":["c","a=b"]}') == {"label": ["a=b", "c"]}
    assert f.parse('{"status":{"running":false}}') == {"status": ["running"]}
    assert f.parse("") == {}
    assert f.parse(None) == {}
    assert f.parse("{}") == {}
    assert f.parse("null") == {}


@pytest.mark.parametrize("raw", ["{", "[1]", '{"a": 1}', '{"a": [1]}', '"x"'])
def test_parse_invalid(raw: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid filter"):
        f.parse(raw)


def test_validate() -> None:
    f.validate({"label": ["a"], "status": ["running"]}, f.CONTAINER_FILTERS)
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'foo'$"):
        f.validate({"label": [], "foo": ["x"]}, f.CONTAINER_FILTERS)


def test_check_container_values() -> None:
    f.check_container_values({"status": ["running", "exited"], "exited": ["0"]})
    # moby's WalkValues: the first bad value, as its daemon invalidFilter prints a string
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'status=xyz'$"):
        f.check_container_values({"status": ["running", "xyz", "abc"]})
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'exited="):
        f.check_container_values({"exited": ["x"]})
    with pytest.raises(InvalidArgument, match="Unrecognised filter value for health: bad"):
        f.check_container_values({"health": ["bad"]})


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        ([], True),
        (["tier"], True),
        (["tier=front"], True),
        (["tier=back"], False),
        (["empty="], True),
        (["empty"], True),
        (["missing"], False),
        (["tier=front", "com.docker.compose.project=demo"], True),
        (["tier=front", "com.docker.compose.project=other"], False),
    ],
)
def test_match_labels(wanted: list[str], expected: bool) -> None:
    assert f.match_labels(wanted, VIEW.labels) is expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({}, True),
        ({"id": ["4f66"]}, True),
        ({"id": ["4f66ad9a0b2e" + "0" * 52]}, True),
        ({"id": ["ffff"]}, False),
        ({"id": ["ffff", "4f6"]}, True),
        ({"name": ["web"]}, True),
        ({"name": ["we"]}, True),
        ({"name": ["^/web$"]}, True),
        ({"name": ["^web$"]}, True),
        ({"name": ["db"]}, False),
        ({"name": ["[invalid"]}, False),
        ({"label": ["tier=front"]}, True),
        ({"label": ["tier=front", "nope"]}, False),
        ({"status": ["running"]}, True),
        ({"status": ["exited", "running"]}, True),
        ({"status": ["exited"]}, False),
        ({"exited": ["0"]}, False),  # not exited
        ({"health": ["healthy"]}, True),
        ({"health": ["unhealthy"]}, False),
        ({"ancestor": ["busybox"]}, True),
        ({"ancestor": ["busybox:latest"]}, True),
        ({"ancestor": ["docker.io/library/busybox:latest"]}, True),
        ({"ancestor": ["alpine"]}, False),
        ({"ancestor": ["cdcdcdcdcdcd"]}, True),
        ({"ancestor": ["sha256:" + "ab" * 32]}, True),
        ({"network": ["bridge"]}, True),
        ({"network": ["front"]}, True),
        ({"network": ["12ab"]}, True),  # an id prefix
        ({"network": ["fro"]}, False),  # names match whole
        ({"network": ["back", "9f9f"]}, True),
        ({"network": ["back"]}, False),
    ],
)
def test_match_container(filters: dict[str, Any], expected: bool) -> None:
    assert match(filters) is expected


def test_exited() -> None:
    exited = VIEW._replace(state="exited", exit_code=3)
    assert match({"exited": ["3"]}, exited)
    assert match({"exited": ["0", "3"]}, exited)
    assert not match({"exited": ["0"]}, exited)
    assert match({"status": ["exited"], "exited": ["3"]}, exited)


def test_ancestor_through_the_resolver() -> None:
    def resolve(name: str) -> str | None:
        return {"myrepo/base:1": "sha256:" + "cd" * 32}.get(name)

    assert match({"ancestor": ["myrepo/base:1"]}, resolve_image=resolve)
    assert not match({"ancestor": ["myrepo/other"]}, resolve_image=resolve)


def test_before_and_since() -> None:
    assert match({}, before=2000.0)
    assert not match({}, before=1000.0)
    assert match({}, since=500.0)
    assert not match({}, since=1000.0)


def test_bool_filters_as_moby_get_bool_or_default() -> None:
    """Engine 25's filters.invalidFilter prints the values as Go prints a []string."""
    from wharfie.engine import volumes
    from wharfie.images.filters import bool_filter

    assert bool_filter(["true"]) is True and bool_filter(["0"]) is False
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'dangling=\[maybe\]'$"):
        bool_filter(["maybe"])
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'dangling=\[true false\]'$"):
        bool_filter(["true", "false"])
    assert volumes._truthy(["True"]) is True and volumes._truthy(None) is False
    with pytest.raises(InvalidArgument, match=r"'all': strconv.ParseBool: parsing \"x\""):
        volumes._truthy(["x"])
    with pytest.raises(InvalidArgument, match=r"'all=\[1 0\]': only one value is expected"):
        volumes._truthy(["1", "0"])
