"""The eBPF device filter: generated instructions, encoding, and what the program decides.

The decisions are checked with a small interpreter of the instructions we emit, against
the kernel's cgroup v1 device semantics (allowlist: an exception must cover every
requested access bit; blacklist: any overlapping bit is denied).
"""

from __future__ import annotations

import itertools
import sys

import pytest

from wharfie.cgroups import with_default_devices
from wharfie.cgroups._bpf import (
    AND32_IMM,
    EXIT,
    JEQ_IMM,
    JNE_IMM,
    JNE_REG,
    LDX_MEM_W,
    MOV32_IMM,
    MOV32_REG,
    RSH32_IMM,
    Insn,
    device_program,
    disassemble,
)
from wharfie.cgroups._devices import Emulated, emulate, parse_rules
from wharfie.errors import InvalidArgument

PROLOGUE = [
    "LdXMemW dst: r2 src: r1 off: 0 imm: 0",
    "And32Imm dst: r2 imm: 65535",
    "LdXMemW dst: r3 src: r1 off: 0 imm: 0",
    "RSh32Imm dst: r3 imm: 16",
    "LdXMemW dst: r4 src: r1 off: 4 imm: 0",
    "LdXMemW dst: r5 src: r1 off: 8 imm: 0",
]


def program(devices: list[dict[str, object]]) -> list[str]:
    return disassemble(device_program(emulate(parse_rules(devices))))


def test_no_rules_rejects_everything() -> None:
    # runc TestDeviceFilter_Nil
    assert program([]) == [*PROLOGUE, "Mov32Imm dst: r0 imm: 0", "Exit"]


def test_privileged_accepts_everything() -> None:
    # runc TestDeviceFilter_Privileged
    assert program([{"allow": True, "type": "a"}]) == [*PROLOGUE, "Mov32Imm dst: r0 imm: 1", "Exit"]


def test_privileged_except_one_device() -> None:
    # runc TestDeviceFilter_PrivilegedExceptSingleDevice (and _Weird)
    expected = [
        *PROLOGUE,
        "JNEImm dst: r2 off: 4 imm: 1",
        "JNEImm dst: r4 off: 3 imm: 8",
        "JNEImm dst: r5 off: 2 imm: 0",
        "Mov32Imm dst: r0 imm: 0",
        "Exit",
        "Mov32Imm dst: r0 imm: 1",
        "Exit",
    ]
    assert program([{"allow": True}, {"allow": False, "type": "b", "major": 8, "minor": 0}]) == (
        expected
    )
    weird = [
        {"allow": False, "type": "b", "major": 8, "minor": 1},
        {"allow": True, "type": "a"},
        {"allow": False, "type": "b", "major": 8, "minor": 0},
    ]
    assert program(weird) == expected


def test_runc_builtin_allow_list() -> None:
    # runc TestDeviceFilter_BuiltInAllowList, in emulator order; the mknod-only wildcard
    # allow rules use the subset check (JNEReg) like runc's current devicefilter.
    def exact(major: int, minor: int) -> list[str]:
        return [
            "JNEImm dst: r2 off: 4 imm: 2",
            f"JNEImm dst: r4 off: 3 imm: {major}",
            f"JNEImm dst: r5 off: 2 imm: {minor}",
            "Mov32Imm dst: r0 imm: 1",
            "Exit",
        ]

    def mknod(kind: int) -> list[str]:
        return [
            f"JNEImm dst: r2 off: 5 imm: {kind}",
            "Mov32Reg dst: r1 src: r3",
            "And32Imm dst: r1 imm: 1",
            "JNEReg dst: r1 off: 2 src: r3",
            "Mov32Imm dst: r0 imm: 1",
            "Exit",
        ]

    expected = [*PROLOGUE, *mknod(1), *mknod(2)]
    for major, minor in [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 2), (10, 200)]:
        expected += exact(major, minor)
    expected += [
        "JNEImm dst: r2 off: 3 imm: 2",
        "JNEImm dst: r4 off: 2 imm: 136",
        "Mov32Imm dst: r0 imm: 1",
        "Exit",
        "Mov32Imm dst: r0 imm: 0",
        "Exit",
    ]
    devices = with_default_devices({"devices": [{"allow": False}]})["devices"]
    assert program(devices) == expected


def test_deny_exceptions_match_any_overlapping_access() -> None:
    rules = [{"allow": True}, {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"}]
    assert program(rules)[6:10] == [
        "JNEImm dst: r2 off: 7 imm: 2",
        "Mov32Reg dst: r1 src: r3",
        "And32Imm dst: r1 imm: 4",
        "JEqImm dst: r1 off: 4 imm: 0",
    ]


def test_encoding_matches_struct_bpf_insn() -> None:
    if sys.byteorder != "little":
        pytest.skip("byte patterns written for little-endian hosts")
    assert Insn(LDX_MEM_W, 2, 1, 0).encode() == bytes.fromhex("6112000000000000")
    assert Insn(LDX_MEM_W, 4, 1, 4).encode() == bytes.fromhex("6114040000000000")
    assert Insn(AND32_IMM, 2, imm=0xFFFF).encode() == bytes.fromhex("54020000ffff0000")
    assert Insn(JNE_IMM, 4, off=3, imm=10).encode() == bytes.fromhex("550403000a000000")
    assert Insn(JNE_REG, 1, 3, off=-1).encode() == bytes.fromhex("5d31ffff00000000")
    assert Insn(MOV32_IMM, 0, imm=1).encode() == bytes.fromhex("b400000001000000")
    assert Insn(EXIT).encode() == bytes.fromhex("9500000000000000")


def test_huge_device_numbers_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="not a valid device number"):
        program([{"allow": True, "type": "c", "major": 0x80000000, "minor": 1}])


# -- running the program -----------------------------------------------------------------

U32 = 0xFFFFFFFF
U64 = (1 << 64) - 1


def run(insns: list[Insn], kind: int, access: int, major: int, minor: int) -> int:
    """Interpret the opcodes we emit on a bpf_cgroup_dev_ctx."""
    ctx = {0: kind | access << 16, 4: major, 8: minor}
    regs = [0] * 11
    pc = 0
    for _ in range(10_000):
        i = insns[pc]
        pc += 1
        if i.code == LDX_MEM_W:
            regs[i.dst] = ctx[i.off or 0]
        elif i.code == AND32_IMM:
            regs[i.dst] = regs[i.dst] & i.imm & U32
        elif i.code == RSH32_IMM:
            regs[i.dst] = (regs[i.dst] & U32) >> i.imm
        elif i.code == MOV32_IMM:
            regs[i.dst] = i.imm & U32
        elif i.code == MOV32_REG:
            regs[i.dst] = regs[i.src] & U32
        elif i.code in (JNE_IMM, JEQ_IMM, JNE_REG):
            other = regs[i.src] if i.code == JNE_REG else i.imm & U64
            equal = regs[i.dst] == other
            if equal == (i.code == JEQ_IMM):
                pc += i.off or 0
        elif i.code == EXIT:
            return regs[0]
        else:
            raise AssertionError(f"unexpected opcode {i.code:#x}")
    raise AssertionError("program did not exit")


def kernel_v1_decision(emu: Emulated, kind: str, access: str, major: int, minor: int) -> bool:
    for (rk, rmaj, rmin), perms in emu.rules.items():
        if rk != kind or rmaj not in (-1, major) or rmin not in (-1, minor):
            continue
        if emu.default_allow and set(access) & set(perms):
            return False
        if not emu.default_allow and set(access) <= set(perms):
            return True
    return emu.default_allow


RULE_SETS = [
    [],
    [{"allow": True}],
    with_default_devices({"devices": [{"allow": False}]})["devices"],
    [
        {"allow": False},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "r"},
        {"allow": True, "type": "b", "major": 8, "access": "m"},
        {"allow": True, "type": "c", "minor": 7, "access": "w"},
    ],
    [
        {"allow": True},
        {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"},
        {"allow": False, "type": "b", "major": 8, "access": "rm"},
        {"allow": False, "type": "c", "major": 136},
    ],
]
ACCESSES = ["r", "w", "m", "rw", "rm", "wm", "rwm"]
DEVICES = [(1, 3), (1, 5), (1, 7), (5, 7), (8, 0), (8, 16), (136, 4), (10, 200), (7, 5)]


@pytest.mark.parametrize("rules", RULE_SETS, ids=range(len(RULE_SETS)))
def test_program_decides_like_the_v1_controller(rules: list[dict[str, object]]) -> None:
    emu = emulate(parse_rules(rules))
    insns = device_program(emu)
    for kind, access, (major, minor) in itertools.product("bc", ACCESSES, DEVICES):
        bits = sum({"m": 1, "r": 2, "w": 4}[a] for a in access)
        got = run(insns, 1 if kind == "b" else 2, bits, major, minor)
        want = kernel_v1_decision(emu, kind, access, major, minor)
        assert got == int(want), (kind, access, major, minor)
