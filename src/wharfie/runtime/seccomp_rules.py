"""The OCI `linux.seccomp` object checked, in libseccomp's terms (part of `seccomp`).

Every error is an InvalidArgument naming the field (`linux.seccomp.syscalls[3].args[0].op`).
A checked rule is (its index in linux.seccomp.syscalls, its names, the libseccomp action,
one (count, array) condition set per libseccomp rule; () for one plain rule).
"""

from __future__ import annotations

import ctypes
import errno

from wharfie.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Conditions = tuple[tuple[int, "ctypes.Array[ArgCmp]"], ...]
    Rule = tuple[int, list[str], int, Conditions]

# libseccomp's action values: those without a return code, and those whose low 16 bits
# carry errnoRet.
PLAIN_ACTIONS = {
    "SCMP_ACT_KILL": 0x00000000,  # = KILL_THREAD
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
    "SCMP_ACT_NOTIFY": 0x7FC00000,
}
NOTIFY = 0x7FC00000
FLAG_NEW_LISTENER = 8  # SECCOMP_FILTER_FLAG_NEW_LISTENER
CODE_ACTIONS = {"SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000}

# enum scmp_compare: SCMP_CMP_NE = 1 ... SCMP_CMP_MASKED_EQ = 7
OPERATORS = {
    f"SCMP_CMP_{name}": value
    for value, name in enumerate(("NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"), start=1)
}

# enum scmp_filter_attr
ATTR_CTL_NNP = 3
ATTR_CTL_OPTIMIZE = 8
# OCI flag -> (libseccomp attribute, seccomp(2) flag bit)
FLAG_ATTRS = {
    "SECCOMP_FILTER_FLAG_TSYNC": (4, 1),  # SCMP_FLTATR_CTL_TSYNC
    "SECCOMP_FILTER_FLAG_LOG": (6, 2),  # SCMP_FLTATR_CTL_LOG
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (7, 4),  # SCMP_FLTATR_CTL_SSB
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (10, 32),  # SCMP_FLTATR_CTL_WAITKILL (2.6)
}
OPTIMIZE_ABOVE = 32  # like runc: binary-tree layout for more than 32 rules
MAX_ARGS = 6
U64 = 1 << 64
NR_SCMP_ERROR = -1


class ArgCmp(ctypes.Structure):
    """struct scmp_arg_cmp."""

    _fields_ = (
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    )


def as_dict(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"{field}: expected an object, got {type(value).__name__}")
    return value


def as_list(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidArgument(f"{field}: expected a list, got {type(value).__name__}")
    return value


def _is_uint(value: object, limit: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < limit


def action(obj: dict[str, Any], field: str, key: str, errno_key: str) -> int:
    name = obj.get(key)
    if name is None:
        raise InvalidArgument(f"{field}.{key}: missing")
    if name in PLAIN_ACTIONS:
        return PLAIN_ACTIONS[name]
    if name in CODE_ACTIONS:
        return CODE_ACTIONS[name] | _errno_ret(obj.get(errno_key), f"{field}.{errno_key}")
    raise InvalidArgument(f'{field}.{key}: unknown action "{name}"')


def _errno_ret(code: object, field: str) -> int:
    if code is None:
        return errno.EPERM
    if not _is_uint(code, 0x10000):
        raise InvalidArgument(f"{field}: expected an errno between 0 and 65535, got {code!r}")
    return code  # type: ignore[return-value]


def architectures(value: object) -> list[tuple[str, int]]:
    if value is None:
        return []
    field = "linux.seccomp.architectures"
    return [_architecture(name, f"{field}[{i}]") for i, name in enumerate(as_list(value, field))]


def _architecture(name: object, field: str) -> tuple[str, int]:
    if not isinstance(name, str) or not name.startswith("SCMP_ARCH_"):
        raise InvalidArgument(f"{field}: unknown architecture {name!r}")
    from wharfie.runtime.seccomp import libseccomp

    token: int = libseccomp().seccomp_arch_resolve_name(name[10:].lower().encode())
    if token == 0:
        raise InvalidArgument(f"{field}: architecture {name} is unknown to libseccomp")
    return field, token


def flags(value: object) -> list[tuple[str, int]]:
    if value is None:
        return []
    names = as_list(value, "linux.seccomp.flags")
    for i, flag in enumerate(names):
        if flag not in FLAG_ATTRS:
            raise InvalidArgument(f'linux.seccomp.flags[{i}]: unknown flag "{flag}"')
    return [(f"linux.seccomp.flags[{i}]", FLAG_ATTRS[flag][0]) for i, flag in enumerate(names)]


def rules(value: object, default: int) -> list[Rule]:
    """Checked rules in order, leaving out those whose action is the default action."""
    if value is None:
        return []
    checked = [_rule(entry, i) for i, entry in enumerate(as_list(value, "linux.seccomp.syscalls"))]
    return [rule for rule in checked if rule[2] != default]


def _rule(entry: object, i: int) -> Rule:
    field = f"linux.seccomp.syscalls[{i}]"
    obj = as_dict(entry, field)
    names = obj.get("names")
    if not isinstance(names, list) or not names:
        raise InvalidArgument(f"{field}.names: expected a non-empty list of syscall names")
    for j, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise InvalidArgument(f"{field}.names[{j}]: expected a syscall name, got {name!r}")
    what = action(obj, field, "action", "errnoRet")
    return i, names, what, _conditions(obj.get("args"), f"{field}.args")


def _conditions(value: object, field: str) -> Conditions:
    """The condition sets of one rule; split into one set per condition like runc when two
    conditions test the same argument (libseccomp cannot AND them)."""
    if not value:
        return ()
    cmps = [_condition(arg, f"{field}[{k}]") for k, arg in enumerate(as_list(value, field))]
    indexes = {cmp.arg for cmp in cmps}
    if len(indexes) < len(cmps):
        return tuple(_array([cmp]) for cmp in cmps)
    return (_array(cmps),)


def _condition(arg: object, field: str) -> ArgCmp:
    obj = as_dict(arg, field)
    index = obj.get("index")
    if not _is_uint(index, MAX_ARGS):
        raise InvalidArgument(f"{field}.index: expected an argument index 0..5, got {index!r}")
    op = obj.get("op")
    if op not in OPERATORS:
        raise InvalidArgument(f'{field}.op: unknown operator "{op}"')
    value = _datum(obj.get("value"), f"{field}.value")
    value_two = _datum(obj.get("valueTwo"), f"{field}.valueTwo")
    return ArgCmp(index, OPERATORS[op], value, value_two)


def _datum(value: object, field: str) -> int:
    if value is None:
        return 0
    if not _is_uint(value, U64):
        raise InvalidArgument(f"{field}: expected an unsigned 64-bit integer, got {value!r}")
    return value  # type: ignore[return-value]


def _array(cmps: list[ArgCmp]) -> tuple[int, ctypes.Array[ArgCmp]]:
    return len(cmps), (ArgCmp * len(cmps))(*cmps)
