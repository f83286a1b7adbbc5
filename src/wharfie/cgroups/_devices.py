"""Device access rules: parse linux.resources.devices and reduce them like the kernel would.

The rules are applied in order to an emulation of the v1 devices controller (the same
model runc uses for both v1 and its v2 eBPF filter):

* an "a" rule resets everything: allow -> allow-by-default with no exceptions (a
  "blacklist"), deny -> deny-by-default with no exceptions (an "allowlist");
* a rule with the default's polarity removes matching permissions from the exceptions;
  one that would punch a hole into a wildcard exception is refused, because cgroup v1
  silently ignores it;
* a rule with the other polarity adds (merges) an exception.

The result, an `Emulated` value (default + sorted exceptions), is what both the v1 writes
(`v1_writes`) and the v2 eBPF program (`_bpf.device_program`) are built from. When the
spec has no "a" rule the starting point is deny-all, like runc.
"""

from __future__ import annotations

from ._base import Plan
from ._spec import RES, boolean, integer, invalid, obj, show, string

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FIELD = f"{RES}.devices"
WILDCARD = -1
PERMS = "rwm"


class Rule:
    """One device rule: type "a"/"b"/"c", major/minor (-1 = any), access ⊆ "rwm", allow."""

    __slots__ = ("access", "allow", "major", "minor", "type")

    def __init__(self, type: str, major: int, minor: int, access: str, allow: bool) -> None:
        self.type = type
        self.major = major
        self.minor = minor
        self.access = access
        self.allow = allow

    def cgroup_string(self) -> str:
        """The devices.allow/deny syntax: "c 1:3 rwm", "a *:* rwm"."""
        major = "*" if self.major == WILDCARD else str(self.major)
        minor = "*" if self.minor == WILDCARD else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rule):
            return NotImplemented
        return (self.type, self.major, self.minor, self.access, self.allow) == (
            other.type,
            other.major,
            other.minor,
            other.access,
            other.allow,
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        verb = "allow" if self.allow else "deny"
        return f"Rule({verb} {self.cgroup_string()})"


def _canonical(access: str) -> str:
    return "".join(p for p in PERMS if p in access)


def _device_number(entry: dict[str, Any], key: str, field: str) -> int:
    value = integer(entry, key, field, minimum=-1, maximum=0xFFFFFFFF)
    return WILDCARD if value is None else value


def parse_rule(entry: object, field: str) -> Rule:
    """One OCI device cgroup entry; type defaults to "a", access to "rwm", numbers to any."""
    entry = obj(entry, field)
    allow = boolean(entry, "allow", field)
    if allow is None:
        raise invalid(f"{field}.allow", "is required")
    kind = string(entry, "type", field) or "a"
    if kind not in ("a", "b", "c"):
        raise invalid(f"{field}.type", f'must be "a", "b" or "c", got {show(kind)}')
    access = string(entry, "access", field)
    if access is None:
        access = PERMS
    if not access or any(p not in PERMS for p in access):
        raise invalid(f"{field}.access", f'must be made of "r", "w" and "m", got {show(access)}')
    major = _device_number(entry, "major", field)
    minor = _device_number(entry, "minor", field)
    return Rule(kind, major, minor, _canonical(access), allow)


def parse_rules(devices: object, field: str = FIELD) -> list[Rule]:
    if devices is None:
        return []
    if not isinstance(devices, list):
        raise invalid(field, f"must be a list, got {show(devices)}")
    return [parse_rule(entry, f"{field}[{i}]") for i, entry in enumerate(devices)]


Meta = tuple[str, int, int]


class Emulated:
    """Default policy plus exceptions {(type, major, minor): access}."""

    __slots__ = ("default_allow", "rules")

    def __init__(self) -> None:
        self.default_allow = False
        self.rules: dict[Meta, str] = {}

    def apply(self, rule: Rule, field: str) -> None:
        if rule.type == "a":
            self.default_allow = rule.allow
            self.rules = {}
        elif rule.allow == self.default_allow:
            self._remove(rule, field)
        else:
            meta = (rule.type, rule.major, rule.minor)
            self.rules[meta] = _canonical(self.rules.get(meta, "") + rule.access)

    def _remove(self, rule: Rule, field: str) -> None:
        meta = (rule.type, rule.major, rule.minor)
        for partial in (
            (rule.type, WILDCARD, rule.minor),
            (rule.type, rule.major, WILDCARD),
            (rule.type, WILDCARD, WILDCARD),
        ):
            overlap = set(self.rules.get(partial, "")) & set(rule.access)
            if partial != meta and overlap:
                held = Rule(*partial, self.rules[partial], not rule.allow)
                raise invalid(
                    field,
                    f"{rule!r} cannot punch a hole into the wildcard rule {held!r} "
                    "(cgroup v1 would silently ignore it)",
                )
        left = _canonical("".join(p for p in self.rules.get(meta, "") if p not in rule.access))
        if left:
            self.rules[meta] = left
        else:
            self.rules.pop(meta, None)

    def exceptions(self) -> list[Rule]:
        """The exceptions, sorted by (major, minor, type) with wildcards first."""
        metas = sorted(self.rules, key=lambda m: (m[1], m[2], m[0]))
        allow = not self.default_allow
        return [Rule(t, ma, mi, self.rules[(t, ma, mi)], allow) for t, ma, mi in metas]


def emulate(rules: list[Rule], field: str = FIELD) -> Emulated:
    emu = Emulated()
    for i, rule in enumerate(rules):
        emu.apply(rule, f"{field}[{i}]")
    return emu


def v1_writes(emu: Emulated, plan: Plan, field: str = FIELD) -> None:
    """The disruptive "a" rule first, then each exception (like runc on a fresh cgroup)."""
    if emu.default_allow:
        plan.add("devices", "devices.allow", "a *:* rwm", field)
    else:
        plan.add("devices", "devices.deny", "a *:* rwm", field)
    target = "devices.deny" if emu.default_allow else "devices.allow"
    for rule in emu.exceptions():
        plan.add("devices", target, rule.cgroup_string(), field)


# What runc 1.1 allows on top of the spec's rules (checked against its devices.list).
DEFAULT_RULES: tuple[tuple[str, int, int, str], ...] = (
    ("c", WILDCARD, WILDCARD, "m"),
    ("b", WILDCARD, WILDCARD, "m"),
    ("c", 1, 3, "rwm"),  # /dev/null
    ("c", 1, 8, "rwm"),  # /dev/random
    ("c", 1, 7, "rwm"),  # /dev/full
    ("c", 5, 0, "rwm"),  # /dev/tty
    ("c", 1, 5, "rwm"),  # /dev/zero
    ("c", 1, 9, "rwm"),  # /dev/urandom
    ("c", 136, WILDCARD, "rwm"),  # /dev/pts/*
    ("c", 5, 2, "rwm"),  # /dev/ptmx
    ("c", 10, 200, "rwm"),  # /dev/net/tun
)


def default_device_rules() -> list[dict[str, Any]]:
    """runc's built-in allowed devices as OCI linux.resources.devices entries."""
    return [
        {"allow": True, "type": t, "major": ma, "minor": mi, "access": acc}
        for t, ma, mi, acc in DEFAULT_RULES
    ]


def with_default_devices(resources: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of `resources` whose devices list ends with runc's built-in allowed devices.

    runc 1.1 allows, after the spec's own rules, /dev/null, zero, full, random, urandom,
    tty, ptmx, pts/*, net/tun and mknod of any device; devices listed in linux.devices
    get no rule of their own (checked: a /dev/fuse there stays denied).
    """
    out = dict(resources or {})
    out["devices"] = list(out.get("devices") or []) + default_device_rules()
    return out
