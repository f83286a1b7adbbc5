"""The plan as pure data: desired services vs observed containers → actions."""

from __future__ import annotations

from typing import Any

import pytest

from wharfie.compose import plan
from wharfie.compose.plan import UpOptions, config_hash, plan_up
from wharfie.compose.schema import SchemaError


def svc(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "image": "busybox",
        "command": None,
        "environment": {},
        "depends_on": {},
        "scale": 1,
        "networks": {"default": {}},
    }
    base.update(kw)
    return base


def dep(*names: str, cond: str = "service_started") -> dict[str, Any]:
    return {n: {"condition": cond, "required": True} for n in names}


def observed(
    name: str,
    s: dict[str, Any],
    number: int = 1,
    state: str = "running",
    hash_: str | None = None,
    oneoff: bool = False,
    image: str = "",
) -> dict[str, Any]:
    return {
        "Id": f"id-{name}-{number}{'-run' if oneoff else ''}",
        "Names": [f"/p-{name}-{number}"],
        "State": state,
        "ImageID": image,
        "Labels": {
            plan.PROJECT: "p",
            plan.SERVICE: name,
            plan.NUMBER: str(number),
            plan.ONEOFF: "True" if oneoff else "False",
            plan.CONFIG_HASH: hash_ if hash_ is not None else config_hash(s),
        },
    }


SERVICES = {
    "db": svc(),
    "web": svc(depends_on=dep("db", cond="service_healthy")),
    "client": svc(depends_on=dep("web")),
    "lone": svc(),
}


def test_levels_follow_depends_on() -> None:
    assert plan.levels(SERVICES) == [["db", "lone"], ["web"], ["client"]]


def test_from_nothing_creates_everything() -> None:
    p = plan_up("p", SERVICES, [], UpOptions())
    assert p.summary() == [
        ("create", "db", 1),
        ("create", "lone", 1),
        ("create", "web", 1),
        ("create", "client", 1),
    ]
    assert p.actions["web"][0].name == "p-web-1"


def test_unchanged_project_changes_nothing() -> None:
    seen = [observed(n, s) for n, s in SERVICES.items()]
    p = plan_up("p", SERVICES, seen, UpOptions())
    assert p.changes_nothing()


def test_change_recreates_service_and_dependents_only() -> None:
    seen = [observed(n, s) for n, s in SERVICES.items()]
    changed = {
        **SERVICES,
        "web": svc(depends_on=dep("db", cond="service_healthy"), environment={"X": "1"}),
    }
    p = plan_up("p", changed, seen, UpOptions())
    kinds = {s: k for k, s, _n in p.summary()}
    assert kinds == {"db": "keep", "lone": "keep", "web": "recreate", "client": "recreate"}


def test_new_image_recreates() -> None:
    seen = [observed(n, s, image="sha256:old") for n, s in SERVICES.items()]
    p = plan_up(
        "p", SERVICES, seen, UpOptions(image_ids={"lone": "sha256:new", "db": "sha256:old"})
    )
    kinds = {s: k for k, s, _n in p.summary()}
    assert kinds["lone"] == "recreate" and kinds["db"] == "keep"


def test_stopped_container_is_started() -> None:
    seen = [observed("lone", SERVICES["lone"], state="exited")]
    p = plan_up("p", SERVICES, seen, UpOptions(services=["lone"]))
    assert p.summary() == [("start", "lone", 1)]


def test_force_and_no_recreate() -> None:
    seen = [observed(n, s, hash_="stale") for n, s in SERVICES.items()]
    forced = plan_up(
        "p",
        SERVICES,
        [observed("db", SERVICES["db"])],
        UpOptions(services=["db"], force_recreate=True),
    )
    assert forced.summary() == [("recreate", "db", 1)]
    kept = plan_up("p", SERVICES, seen, UpOptions(no_recreate=True))
    assert kept.changes_nothing()


def test_targets_pull_in_dependencies_unless_no_deps() -> None:
    p = plan_up("p", SERVICES, [], UpOptions(services=["client"]))
    assert [s for _k, s, _n in p.summary()] == ["db", "web", "client"]
    p = plan_up("p", SERVICES, [], UpOptions(services=["client"], no_deps=True))
    assert p.summary() == [("create", "client", 1)]


def test_scale_up_and_down() -> None:
    s = {"w": svc(scale=3)}
    p = plan_up("p", s, [observed("w", s["w"], 2)], UpOptions())
    assert sorted(p.summary()) == [("create", "w", 1), ("create", "w", 3), ("keep", "w", 2)]
    seen = [observed("w", s["w"], n) for n in (1, 2, 3)]
    p = plan_up("p", s, seen, UpOptions(scale={"w": 1}))
    assert p.summary() == [("remove", "w", 3), ("remove", "w", 2), ("keep", "w", 1)]


def test_container_name_cannot_scale() -> None:
    s = {"w": svc(container_name="fixed", scale=2)}
    with pytest.raises(SchemaError, match='container_name "fixed" must be unique'):
        plan_up("p", s, [], UpOptions())


def test_orphans_and_oneoffs() -> None:
    seen = [observed("gone", svc()), observed("lone", SERVICES["lone"], oneoff=True)]
    p = plan_up("p", SERVICES, seen, UpOptions(remove_orphans=True))
    assert p.orphans[0].as_tuple() == ("orphan", "gone", 1)
    assert ("create", "lone", 1) in p.summary()  # the one-off is not the service's container
    p = plan_up("p", SERVICES, seen, UpOptions(remove_orphans=True, known={"gone"}))
    assert p.orphans == [] and p.found_orphans == []
    p = plan_up("p", SERVICES, seen, UpOptions())
    assert p.orphans == [] and p.found_orphans == ["p-gone-1"]


def test_unknown_service() -> None:
    with pytest.raises(SchemaError, match="no such service: nope"):
        plan_up("p", SERVICES, [], UpOptions(services=["nope"]))


def test_hash_ignores_what_does_not_shape_a_container() -> None:
    a = svc()
    assert config_hash(a) == config_hash(
        {**a, "scale": 5, "build": {"context": "."}, "depends_on": dep("x"), "profiles": ["p"]}
    )
    assert config_hash(a) != config_hash({**a, "command": ["x"]})
    assert config_hash({"a": 1, "b": 2}) == config_hash({"b": 2, "a": 1})


def test_down_order_reverses_dependencies() -> None:
    seen = [observed(n, s) for n, s in SERVICES.items()] + [observed("orphan", svc())]
    groups = plan.down_order(SERVICES, seen)
    names = [[c["Labels"][plan.SERVICE] for c in g] for g in groups]
    assert names == [["orphan"], ["client"], ["web"], ["db", "lone"]]


def test_cycle_is_an_error() -> None:
    s = {"a": svc(depends_on=dep("b")), "b": svc(depends_on=dep("a"))}
    with pytest.raises(SchemaError, match="dependency cycle detected: a -> b -> a"):
        plan.levels(s)


def test_restart_with_dependents_marked_restart() -> None:
    s = {
        "db": svc(),
        "api": svc(depends_on={"db": {"condition": "service_started", "restart": True}}),
        "web": svc(depends_on={"api": {"condition": "service_started", "restart": True}}),
        "cron": svc(depends_on={"db": {"condition": "service_started", "restart": False}}),
    }
    assert plan.restart_with(s, ["db"]) == {"db", "api", "web"}
    assert plan.restart_with(s, ["web"]) == {"web"}
