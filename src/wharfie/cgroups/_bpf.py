"""Device access control on cgroup v2: a tiny eBPF assembler and the bpf(2) loader.

`device_program(emulated)` turns the reduced rule set (see _devices) into a
BPF_PROG_TYPE_CGROUP_DEVICE program with runc's layout (runc's devicefilter, itself from
crun). The program reads struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
u32 minor; } from r1:

    r2 = type   (access_type & 0xffff: 1 block, 2 char)
    r3 = access (access_type >> 16: 1 mknod, 2 read, 4 write)
    r4 = major, r5 = minor
    one block per exception: if anything differs, jump to the next block;
        else return the exception's verdict
    return the default verdict

Access matching follows the kernel's v1 semantics: an allow exception must cover every
requested access bit (subset); a deny exception applies as soon as one bit overlaps.

`attach_device_program(dir, insns)` loads it with bpf(BPF_PROG_LOAD) and attaches it to
the cgroup directory (BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI), then detaches the programs
that were there before, so an update never leaves the cgroup unfiltered. ctypes is
imported only there.
"""

from __future__ import annotations

import os
import sys

from wharfie.errors import InvalidArgument, Unavailable

from ._devices import FIELD, WILDCARD

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ._devices import Emulated, Rule

# Opcodes (class | op | source) of the instructions we emit.
LDX_MEM_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
AND32_IMM = 0x54  # BPF_ALU | BPF_AND | BPF_K
RSH32_IMM = 0x74  # BPF_ALU | BPF_RSH | BPF_K
MOV32_IMM = 0xB4  # BPF_ALU | BPF_MOV | BPF_K
MOV32_REG = 0xBC  # BPF_ALU | BPF_MOV | BPF_X
JEQ_IMM = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JNE_IMM = 0x55  # BPF_JMP | BPF_JNE | BPF_K
JNE_REG = 0x5D  # BPF_JMP | BPF_JNE | BPF_X
EXIT = 0x95  # BPF_JMP | BPF_EXIT

R0, R1, R2, R3, R4, R5 = range(6)
DEV_BLOCK, DEV_CHAR = 1, 2  # BPF_DEVCG_DEV_*
ACC_MKNOD, ACC_READ, ACC_WRITE = 1, 2, 4  # BPF_DEVCG_ACC_*
ACC_ALL = ACC_MKNOD | ACC_READ | ACC_WRITE
_ACCESS = {"m": ACC_MKNOD, "r": ACC_READ, "w": ACC_WRITE}
_NEXT = None  # placeholder offset: "the next block"

_NAMES = {
    LDX_MEM_W: "LdXMemW",
    AND32_IMM: "And32Imm",
    RSH32_IMM: "RSh32Imm",
    MOV32_IMM: "Mov32Imm",
    MOV32_REG: "Mov32Reg",
    JEQ_IMM: "JEqImm",
    JNE_IMM: "JNEImm",
    JNE_REG: "JNEReg",
    EXIT: "Exit",
}


class Insn:
    """One struct bpf_insn."""

    __slots__ = ("code", "dst", "imm", "off", "src")

    def __init__(self, code: int, dst: int = 0, src: int = 0, off: int | None = 0, imm: int = 0):
        self.code = code
        self.dst = dst
        self.src = src
        self.off = off
        self.imm = imm

    def encode(self) -> bytes:
        """The 8 bytes the kernel reads (host byte order, like the kernel's bitfields)."""
        order = sys.byteorder
        regs = (self.src << 4 | self.dst) if order == "little" else (self.dst << 4 | self.src)
        off = self.off or 0
        return (
            bytes((self.code, regs))
            + off.to_bytes(2, order, signed=True)
            + self.imm.to_bytes(4, order, signed=True)
        )

    def __str__(self) -> str:
        """Disassembly in the style of cilium/ebpf (as used in runc's tests)."""
        name = _NAMES.get(self.code, f"op{self.code:#x}")
        if self.code == EXIT:
            return name
        if self.code == LDX_MEM_W:
            return f"{name} dst: r{self.dst} src: r{self.src} off: {self.off} imm: {self.imm}"
        if self.code == MOV32_REG:
            return f"{name} dst: r{self.dst} src: r{self.src}"
        if self.code == JNE_REG:
            return f"{name} dst: r{self.dst} off: {self.off} src: r{self.src}"
        if self.code in (JEQ_IMM, JNE_IMM):
            return f"{name} dst: r{self.dst} off: {self.off} imm: {self.imm}"
        return f"{name} dst: r{self.dst} imm: {self.imm}"

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Insn) and self.encode() == other.encode()

    __hash__ = None  # type: ignore[assignment]


def _prologue() -> list[Insn]:
    return [
        Insn(LDX_MEM_W, R2, R1, 0),
        Insn(AND32_IMM, R2, imm=0xFFFF),
        Insn(LDX_MEM_W, R3, R1, 0),
        Insn(RSH32_IMM, R3, imm=16),
        Insn(LDX_MEM_W, R4, R1, 4),
        Insn(LDX_MEM_W, R5, R1, 8),
    ]


def _verdict(allow: bool) -> list[Insn]:
    return [Insn(MOV32_IMM, R0, imm=1 if allow else 0), Insn(EXIT)]


def _number(value: int, what: str, rule: Rule) -> int:
    if value > 0x7FFFFFFF:
        raise InvalidArgument(f"{FIELD}: {what} of {rule!r} is not a valid device number")
    return value


def _rule_block(rule: Rule) -> list[Insn]:
    kind = DEV_BLOCK if rule.type == "b" else DEV_CHAR
    block = [Insn(JNE_IMM, R2, off=_NEXT, imm=kind)]
    access = sum(_ACCESS[p] for p in rule.access)
    if access != ACC_ALL:
        block += [Insn(MOV32_REG, R1, R3), Insn(AND32_IMM, R1, imm=access)]
        if rule.allow:  # every requested bit must be allowed
            block.append(Insn(JNE_REG, R1, R3, off=_NEXT))
        else:  # any requested bit that is denied
            block.append(Insn(JEQ_IMM, R1, off=_NEXT, imm=0))
    if rule.major != WILDCARD:
        block.append(Insn(JNE_IMM, R4, off=_NEXT, imm=_number(rule.major, "major", rule)))
    if rule.minor != WILDCARD:
        block.append(Insn(JNE_IMM, R5, off=_NEXT, imm=_number(rule.minor, "minor", rule)))
    return block + _verdict(rule.allow)


def device_program(emulated: Emulated) -> list[Insn]:
    """The filter program for a reduced rule set (type "a" never appears in exceptions)."""
    insns = _prologue()
    for rule in emulated.exceptions():
        block = _rule_block(rule)
        start, end = len(insns), len(insns) + len(block)
        for i, insn in enumerate(block):
            if insn.off is _NEXT:
                insn.off = end - (start + i + 1)
        insns += block
    return insns + _verdict(emulated.default_allow)


def disassemble(insns: list[Insn]) -> list[str]:
    return [str(i) for i in insns]


# bpf(2) plumbing ------------------------------------------------------------------------

SYS_BPF = {
    "x86_64": 321,
    "aarch64": 280,
    "riscv64": 280,
    "ppc64le": 361,
    "s390x": 351,
    "i686": 357,
    "i386": 357,
    "armv7l": 386,
    "loongarch64": 280,
}
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH, BPF_PROG_QUERY = 5, 8, 9, 16
BPF_PROG_GET_FD_BY_ID = 13
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
LICENSE = b"Apache\0"


def _syscall(lib: Any, ctypes: Any, cmd: int, attr: Any) -> int:
    nr = SYS_BPF.get(os.uname().machine)
    if nr is None:
        raise OSError(38, f"bpf(2) syscall number unknown for {os.uname().machine}")
    size = ctypes.c_uint(ctypes.sizeof(attr))
    res = int(lib.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), ctypes.byref(attr), size))
    if res < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return res


def _structs(ctypes: Any) -> dict[str, Any]:
    u32, u64 = ctypes.c_uint32, ctypes.c_uint64

    def struct(name: str, fields: list[tuple[str, Any]]) -> Any:
        return type(name, (ctypes.Structure,), {"_fields_": fields})

    return {
        "load": struct(
            "ProgLoad",
            [
                ("prog_type", u32),
                ("insn_cnt", u32),
                ("insns", u64),
                ("license", u64),
                ("log_level", u32),
                ("log_size", u32),
                ("log_buf", u64),
                ("kern_version", u32),
                ("prog_flags", u32),
                ("prog_name", ctypes.c_char * 16),
            ],
        ),
        "attach": struct(
            "ProgAttach",
            [
                ("target_fd", u32),
                ("attach_bpf_fd", u32),
                ("attach_type", u32),
                ("attach_flags", u32),
                ("replace_bpf_fd", u32),
            ],
        ),
        "query": struct(
            "ProgQuery",
            [
                ("target_fd", u32),
                ("attach_type", u32),
                ("query_flags", u32),
                ("attach_flags", u32),
                ("prog_ids", u64),
                ("prog_cnt", u32),
            ],
        ),
        "by_id": struct("ProgById", [("prog_id", u32), ("next_id", u32), ("open_flags", u32)]),
    }


class _Bpf:
    """The few bpf(2) commands we need, through libc's syscall()."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.lib = ctypes.CDLL(None, use_errno=True)
        self.s = _structs(ctypes)

    def call(self, cmd: int, attr: Any) -> int:
        return _syscall(self.lib, self.ctypes, cmd, attr)

    def load(self, code: bytes, count: int) -> int:
        ct = self.ctypes
        buf = ct.create_string_buffer(code, len(code))
        lic = ct.create_string_buffer(LICENSE)
        attr = self.s["load"](
            prog_type=BPF_PROG_TYPE_CGROUP_DEVICE,
            insn_cnt=count,
            insns=ct.addressof(buf),
            license=ct.addressof(lic),
            prog_name=b"wharfie_devices",
        )
        try:
            return self.call(BPF_PROG_LOAD, attr)
        except OSError as err:
            raise OSError(err.errno, f"{err.strerror}; verifier: {self._log(attr)}") from err

    def _log(self, attr: Any) -> str:
        """Load again with the verifier log on, to say why it was refused."""
        log = self.ctypes.create_string_buffer(1 << 16)
        attr.log_level, attr.log_size, attr.log_buf = 1, len(log), self.ctypes.addressof(log)
        try:
            os.close(self.call(BPF_PROG_LOAD, attr))
        except OSError:
            pass  # expected: the same refusal, now with a log
        return log.value.decode(errors="replace").strip()[-500:] or "(no log)"

    def query(self, dirfd: int) -> list[int]:
        ids = (self.ctypes.c_uint32 * 64)()
        attr = self.s["query"](target_fd=dirfd, attach_type=BPF_CGROUP_DEVICE, prog_cnt=64)
        attr.prog_ids = self.ctypes.addressof(ids)
        self.call(BPF_PROG_QUERY, attr)
        return list(ids[: attr.prog_cnt])

    def attach(self, dirfd: int, prog_fd: int, cmd: int = BPF_PROG_ATTACH) -> None:
        flags = BPF_F_ALLOW_MULTI if cmd == BPF_PROG_ATTACH else 0
        attr = self.s["attach"](
            target_fd=dirfd,
            attach_bpf_fd=prog_fd,
            attach_type=BPF_CGROUP_DEVICE,
            attach_flags=flags,
        )
        self.call(cmd, attr)

    def detach_id(self, dirfd: int, prog_id: int) -> None:
        fd = self.call(BPF_PROG_GET_FD_BY_ID, self.s["by_id"](prog_id=prog_id))
        try:
            self.attach(dirfd, fd, BPF_PROG_DETACH)
        finally:
            os.close(fd)


def attach_device_program(cgroup_dir: str, insns: list[Insn]) -> None:
    """Load `insns` and make it the only device filter of `cgroup_dir`."""
    try:
        bpf = _Bpf()
        prog_fd = bpf.load(b"".join(i.encode() for i in insns), len(insns))
        try:
            _replace(bpf, cgroup_dir, prog_fd)
        finally:
            os.close(prog_fd)
    except OSError as err:
        raise Unavailable(
            f"{FIELD}: failed to install the eBPF device filter on {cgroup_dir}: {err.strerror}"
        ) from err


def _replace(bpf: _Bpf, cgroup_dir: str, prog_fd: int) -> None:
    dirfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = bpf.query(dirfd)
        bpf.attach(dirfd, prog_fd)
        for prog_id in old:
            bpf.detach_id(dirfd, prog_id)
    finally:
        os.close(dirfd)


def attached_programs(cgroup_dir: str) -> list[int]:
    """Ids of the device programs attached to `cgroup_dir` (for tests and diagnostics)."""
    bpf = _Bpf()
    dirfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return bpf.query(dirfd)
    finally:
        os.close(dirfd)
