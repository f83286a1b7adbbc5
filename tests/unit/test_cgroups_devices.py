"""Device rules: parsing, the v1-semantics emulator, v1 writes and runc's defaults (pure)."""

from __future__ import annotations

import pytest

from wharfie.cgroups import default_device_rules, with_default_devices
from wharfie.cgroups._base import Plan
from wharfie.cgroups._devices import Rule, emulate, parse_rule, parse_rules, v1_writes
from wharfie.errors import InvalidArgument


def allow(t: str, major: int = -1, minor: int = -1, access: str = "rwm") -> dict[str, object]:
    return {"allow": True, "type": t, "major": major, "minor": minor, "access": access}


def deny(t: str = "a", major: int = -1, minor: int = -1, access: str = "rwm") -> dict[str, object]:
    return {"allow": False, "type": t, "major": major, "minor": minor, "access": access}


def exceptions(devices: list[dict[str, object]]) -> tuple[bool, list[str]]:
    emu = emulate(parse_rules(devices))
    return emu.default_allow, [r.cgroup_string() for r in emu.exceptions()]


# -- parsing -----------------------------------------------------------------------------


def test_oci_defaults_type_a_access_rwm_numbers_wildcard() -> None:
    assert parse_rule({"allow": False}, "f") == Rule("a", -1, -1, "rwm", False)


def test_access_is_canonicalised() -> None:
    assert parse_rule({"allow": True, "type": "c", "access": "mwr"}, "f").access == "rwm"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"type": "c"}, r"devices\[0\]\.allow: is required"),
        ({"allow": "yes"}, r"devices\[0\]\.allow: must be true or false"),
        ({"allow": True, "type": "x"}, r'devices\[0\]\.type: must be "a", "b" or "c"'),
        ({"allow": True, "access": "rwx"}, r"devices\[0\]\.access: must be made of"),
        ({"allow": True, "access": ""}, r"devices\[0\]\.access"),
        ({"allow": True, "major": "1"}, r"devices\[0\]\.major: must be an integer"),
        ({"allow": True, "minor": -2}, r"devices\[0\]\.minor: must be between -1"),
    ],
)
def test_parse_errors_name_the_rule(entry: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.resources\." + message):
        parse_rules([entry])


def test_devices_must_be_a_list() -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.devices: must be a list"):
        parse_rules({"allow": True})


# -- the emulator ------------------------------------------------------------------------


def test_no_rules_means_deny_all() -> None:
    assert exceptions([]) == (False, [])


def test_allowlist() -> None:
    assert exceptions([deny(), allow("c", 1, 3), allow("c", 136)]) == (
        False,
        ["c 1:3 rwm", "c 136:* rwm"],
    )


def test_allow_all_resets_to_a_blacklist() -> None:
    assert exceptions([allow("c", 1, 3), allow("a")]) == (True, [])


def test_blacklist_with_exceptions() -> None:
    assert exceptions([allow("a"), deny("b", 8, 0)]) == (True, ["b 8:0 rwm"])


def test_runc_weird_case_later_rules_win() -> None:
    # runc's TestDeviceFilter_Weird: 8:1 denied then everything allowed, then 8:2 denied.
    assert exceptions([deny("b", 8, 1), allow("a"), deny("b", 8, 2)]) == (True, ["b 8:2 rwm"])


def test_permissions_merge_and_subtract() -> None:
    rules = [allow("c", 1, 3, "r"), allow("c", 1, 3, "w"), allow("c", 1, 5), deny("c", 1, 5, "w")]
    assert exceptions(rules) == (False, ["c 1:3 rw", "c 1:5 rm"])


def test_removing_everything_drops_the_exception() -> None:
    assert exceptions([allow("c", 1, 3), deny("c", 1, 3)]) == (False, [])


def test_punching_a_hole_into_a_wildcard_is_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"devices\[1\]: .*cannot punch a hole"):
        exceptions([allow("c"), deny("c", 1, 3, "r")])


def test_removing_a_wildcard_itself_is_fine() -> None:
    assert exceptions([allow("c", 5), deny("c", 5)]) == (False, [])


def test_sorted_by_major_minor_type_with_wildcards_first() -> None:
    rules = [allow("c", 5, 0), allow("b", 8, 0), allow("c", 1, 3), allow("c", access="m")]
    assert exceptions(rules)[1] == ["c *:* m", "c 1:3 rwm", "c 5:0 rwm", "b 8:0 rwm"]


# -- v1 writes and runc's defaults -------------------------------------------------------

# devices.list of a `runc run` container (runc 1.1.5, spec from `runc spec`) on this host.
RUNC_DEVICES_LIST = """\
b *:* m
c *:* m
c 1:3 rwm
c 1:5 rwm
c 1:7 rwm
c 1:8 rwm
c 1:9 rwm
c 5:0 rwm
c 5:2 rwm
c 10:200 rwm
c 136:* rwm
""".splitlines()


def test_with_default_devices_reproduces_runcs_devices_list() -> None:
    res = with_default_devices({"devices": [{"allow": False, "access": "rwm"}]})
    plan = Plan()
    v1_writes(emulate(parse_rules(res["devices"])), plan)
    assert plan.keys()[0] == ("devices", "devices.deny", "a *:* rwm")
    assert [value for _, _, value in plan.keys()[1:]] == RUNC_DEVICES_LIST
    assert {name for _, name, _ in plan.keys()[1:]} == {"devices.allow"}


def test_blacklist_v1_writes_allow_all_then_deny() -> None:
    plan = Plan()
    v1_writes(emulate(parse_rules([allow("a"), deny("b", 8, 0, "w")])), plan)
    assert plan.keys() == [
        ("devices", "devices.allow", "a *:* rwm"),
        ("devices", "devices.deny", "b 8:0 w"),
    ]


def test_with_default_devices_keeps_the_spec_rules_first() -> None:
    res = with_default_devices({"memory": {"limit": 1}, "devices": [deny(), allow("c", 10, 229)]})
    assert res["memory"] == {"limit": 1}
    assert res["devices"][:2] == [deny(), allow("c", 10, 229)]
    assert res["devices"][2:] == default_device_rules()


def test_with_default_devices_does_not_modify_its_input() -> None:
    res = {"devices": [deny()]}
    with_default_devices(res)
    assert res == {"devices": [deny()]}
    assert with_default_devices(None)["devices"] == default_device_rules()
