"""compile_filter: validation errors name the field; rules as runc builds them (no root)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wharfie.errors import FailedPrecondition, InvalidArgument, Unavailable
from wharfie.runtime.seccomp import compile_filter


def spec(
    *syscalls: dict[str, Any], default: str = "SCMP_ACT_ALLOW", **extra: Any
) -> dict[str, Any]:
    return {"defaultAction": default, "syscalls": list(syscalls), **extra}


def rule(names: list[str], action: str = "SCMP_ACT_ERRNO", **extra: Any) -> dict[str, Any]:
    return {"names": names, "action": action, **extra}


def arg(index: int, value: int, op: str = "SCMP_CMP_EQ", **extra: Any) -> dict[str, Any]:
    return {"index": index, "value": value, "op": op, **extra}


def pfc(seccomp: dict[str, Any]) -> str:
    f = compile_filter(seccomp)
    try:
        return f.export_pfc()
    finally:
        f.release()


def native_section(text: str) -> str:
    """The x86_64 part of libseccomp's pseudo filter code."""
    start = text.index("# filter for arch x86_64")
    end = text.find("# filter for arch", start + 1)
    return text[start : end if end > 0 else None]


# -- errors name the field ------------------------------------------------------------------

BAD_SPECS = [
    ({"syscalls": []}, InvalidArgument, "linux.seccomp.defaultAction: missing"),
    (
        spec(default="SCMP_ACT_NOPE"),
        InvalidArgument,
        'defaultAction: unknown action "SCMP_ACT_NOPE"',
    ),
    (
        spec(rule(["read"]), rule(["write"]), rule(["open"]), rule(["mkdir"], "SCMP_ACT_FOO")),
        InvalidArgument,
        'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"',
    ),
    (spec(rule([])), InvalidArgument, "linux.seccomp.syscalls[0].names: expected a non-empty"),
    (spec(rule(["read", 7])), InvalidArgument, "linux.seccomp.syscalls[0].names[1]"),
    (spec({"names": ["read"]}), InvalidArgument, "linux.seccomp.syscalls[0].action: missing"),
    (spec("read"), InvalidArgument, "linux.seccomp.syscalls[0]: expected an object"),
    (
        spec(rule(["read"], errnoRet=70000)),
        InvalidArgument,
        "linux.seccomp.syscalls[0].errnoRet: expected an errno",
    ),
    (
        spec(default="SCMP_ACT_ERRNO", defaultErrnoRet=-1),
        InvalidArgument,
        "linux.seccomp.defaultErrnoRet",
    ),
    (
        spec(rule(["read"], args=[arg(0, 1), arg(6, 1)])),
        InvalidArgument,
        "linux.seccomp.syscalls[0].args[1].index: expected an argument index 0..5",
    ),
    (
        spec(rule(["read"], args=[arg(0, 1, "SCMP_CMP_ALMOST")])),
        InvalidArgument,
        'linux.seccomp.syscalls[0].args[0].op: unknown operator "SCMP_CMP_ALMOST"',
    ),
    (
        spec(rule(["read"], args=[arg(0, -5)])),
        InvalidArgument,
        "linux.seccomp.syscalls[0].args[0].value: expected an unsigned 64-bit",
    ),
    (
        spec(rule(["read"], args=[arg(0, 1, "SCMP_CMP_MASKED_EQ", valueTwo=1 << 64)])),
        InvalidArgument,
        "linux.seccomp.syscalls[0].args[0].valueTwo",
    ),
    (
        spec(architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"]),
        InvalidArgument,
        "linux.seccomp.architectures[1]: architecture SCMP_ARCH_VAX is unknown",
    ),
    (spec(architectures=["x86_64"]), InvalidArgument, "linux.seccomp.architectures[0]"),
    (
        spec(flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_FAST"]),
        InvalidArgument,
        'linux.seccomp.flags[1]: unknown flag "SECCOMP_FILTER_FLAG_FAST"',
    ),
    (
        spec(syscalls={"names": ["read"]}),
        InvalidArgument,
        "linux.seccomp.syscalls: expected a list",
    ),
    (
        spec(rule(["read"], "SCMP_ACT_NOTIFY")),
        InvalidArgument,
        "linux.seccomp.listenerPath: required when a rule's action is SCMP_ACT_NOTIFY",
    ),
    (
        spec(default="SCMP_ACT_NOTIFY"),
        InvalidArgument,
        "defaultAction: SCMP_ACT_NOTIFY cannot be used as default action",
    ),
]


def test_notify_with_a_listener_compiles() -> None:
    from wharfie.runtime.seccomp import compile_filter, uses_notify

    s = spec(rule(["mkdir"], "SCMP_ACT_NOTIFY"), listenerPath="/run/agent.sock")
    f = compile_filter(s)
    try:
        assert f.notify and uses_notify(s)
        assert not compile_filter(spec(rule(["mkdir"], "SCMP_ACT_LOG"))).notify
    finally:
        f.release()


@pytest.mark.parametrize(("seccomp", "kind", "message"), BAD_SPECS)
def test_errors_name_the_field(seccomp: Any, kind: type[Exception], message: str) -> None:
    with pytest.raises(kind) as caught:
        compile_filter(seccomp)
    assert message in str(caught.value)


def test_not_an_object() -> None:
    with pytest.raises(InvalidArgument, match=r"^linux\.seccomp: expected an object, got list"):
        compile_filter([])  # type: ignore[arg-type]


def test_unknown_action_message_is_exact() -> None:
    bad = spec(*(rule([n]) for n in ("read", "write", "open")), rule(["mkdir"], "SCMP_ACT_FOO"))
    with pytest.raises(InvalidArgument) as caught:
        compile_filter(bad)
    assert str(caught.value) == 'linux.seccomp.syscalls[3].action: unknown action "SCMP_ACT_FOO"'


# -- rules ----------------------------------------------------------------------------------


def test_unknown_syscall_names_are_skipped_like_runc() -> None:
    f = compile_filter(spec(rule(["mkdir", "no_such_syscall_xyz", "rmdir"], errnoRet=38)))
    try:
        assert f.skipped == ["no_such_syscall_xyz"]
        assert f.rule_count == 2
        text = f.export_pfc()
    finally:
        f.release()
    assert 'syscall "mkdir"' in text and 'syscall "rmdir"' in text
    assert "no_such_syscall_xyz" not in text


def test_errno_defaults_to_eperm_and_errno_ret_is_used() -> None:
    text = native_section(pfc(spec(rule(["mkdir"]), rule(["rmdir"], errnoRet=38))))
    assert 'syscall "mkdir" (83)' in text and "ERRNO(1)" in text
    assert 'syscall "rmdir" (84)' in text and "ERRNO(38)" in text


@pytest.mark.parametrize(
    ("action", "shown"),
    [
        ("SCMP_ACT_KILL", "KILL;"),
        ("SCMP_ACT_KILL_THREAD", "KILL;"),
        ("SCMP_ACT_KILL_PROCESS", "KILL_PROCESS"),
        ("SCMP_ACT_TRAP", "TRAP"),
        ("SCMP_ACT_LOG", "LOG"),
        ("SCMP_ACT_TRACE", "TRACE(1)"),
    ],
)
def test_actions(action: str, shown: str) -> None:
    text = native_section(pfc(spec(rule(["mkdir"], action))))
    assert shown in text.split('syscall "mkdir"')[1]


def test_trace_takes_errno_ret_as_its_message() -> None:
    assert "TRACE(7)" in pfc(spec(rule(["mkdir"], "SCMP_ACT_TRACE", errnoRet=7)))


def test_rules_with_the_default_action_are_skipped() -> None:
    seccomp = spec(
        rule(["read"], "SCMP_ACT_ALLOW"),
        rule(["mkdir"]),  # ERRNO(EPERM) == the default
        rule(["rmdir"], errnoRet=1),  # the same, spelled out
        rule(["unlink"], errnoRet=38),  # a different action: kept
        default="SCMP_ACT_ERRNO",
    )
    seccomp["syscalls"][0]["action"] = "SCMP_ACT_ALLOW"
    f = compile_filter(seccomp)
    try:
        assert f.rule_count == 2
        text = native_section(f.export_pfc())
    finally:
        f.release()
    assert 'syscall "read"' in text and 'syscall "unlink"' in text
    assert "mkdir" not in text and "rmdir" not in text


def test_allow_rule_under_allow_default_is_skipped_not_an_error() -> None:
    f = compile_filter(spec(rule(["read"], "SCMP_ACT_ALLOW")))
    assert f.rule_count == 0
    f.release()


def test_conditions_on_different_arguments_are_anded() -> None:
    text = native_section(pfc(spec(rule(["mkdirat"], args=[arg(0, 3), arg(2, 0o700)]))))
    body = text.split('syscall "mkdirat"')[1]
    # nested: a0 check, then a2 inside it, then the action once
    assert body.index("$a0") < body.index("$a2") < body.index("ERRNO(1)")
    assert body.count("ERRNO(1)") == 1


def test_conditions_on_the_same_argument_become_separate_rules() -> None:
    """runc: two comparisons of one argument are split into rules of their own (ORed)."""
    text = native_section(pfc(spec(rule(["chmod"], args=[arg(1, 0o700), arg(1, 0o711)]))))
    body = text.split('syscall "chmod"')[1]
    assert "== 448" in body and "== 457" in body
    assert body.count("ERRNO(1)") == 2


def test_split_applies_to_all_conditions_of_the_rule() -> None:
    args = [arg(1, 0o700), arg(1, 0o711), arg(0, 5, "SCMP_CMP_GE")]
    body = native_section(pfc(spec(rule(["chmod"], args=args)))).split('syscall "chmod"')[1]
    lines = body.splitlines()
    a1 = next(line for line in lines if "if ($a1.hi32" in line)
    a0 = next(line for line in lines if "if ($a0.hi32" in line)
    # the a0 comparison is a sibling of the a1 ones, not nested inside them
    assert len(a0) - len(a0.lstrip()) == len(a1) - len(a1.lstrip())


def test_masked_eq_uses_value_as_mask_and_value_two_as_datum() -> None:
    cond = arg(0, 0x7E020000, "SCMP_CMP_MASKED_EQ", valueTwo=0x10000000)
    body = native_section(pfc(spec(rule(["clone"], args=[cond])))).split('syscall "clone"')[1]
    assert "& 0x7e020000 == 268435456" in body


@pytest.mark.parametrize(
    ("op", "comparison", "negated"),
    [
        ("SCMP_CMP_EQ", "== 40", False),
        ("SCMP_CMP_GE", ">= 40", False),
        ("SCMP_CMP_GT", "> 40", False),
        # libseccomp emits NE, LT and LE as the else branch of EQ, GE and GT.
        ("SCMP_CMP_NE", "== 40", True),
        ("SCMP_CMP_LT", ">= 40", True),
        ("SCMP_CMP_LE", "> 40", True),
    ],
)
def test_operators(op: str, comparison: str, negated: bool) -> None:
    body = native_section(pfc(spec(rule(["socket"], args=[arg(0, 40, op)]))))
    lines = body.split('syscall "socket"')[1].splitlines()
    at = next(i for i, line in enumerate(lines) if f"$a0.lo32 {comparison})" in line)
    assert (lines[at + 1].strip() == "else") is negated


def test_architectures_are_added_and_native_may_repeat() -> None:
    text = pfc(spec(rule(["mkdir"]), architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]))
    assert "# filter for arch x86_64" in text and "# filter for arch x86 " in text
    assert "x32" not in text


def test_without_architectures_only_native() -> None:
    text = pfc(spec(rule(["mkdir"])))
    assert text.count("# filter for arch") == 1


@pytest.mark.parametrize(
    "flag",
    ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
)
def test_supported_flags(flag: str) -> None:
    compile_filter(spec(rule(["mkdir"]), flags=[flag])).release()


def test_release_is_idempotent_and_final() -> None:
    f = compile_filter(spec(rule(["mkdir"])))
    f.release()
    f.release()
    with pytest.raises(FailedPrecondition, match="released"):
        f.export_pfc()


# -- the BPF cache --------------------------------------------------------------------------


def test_cache_returns_the_program_libseccomp_generates(tmp_path: Path) -> None:
    seccomp = spec(rule(["mkdir"], errnoRet=38), architectures=["SCMP_ARCH_X86"])
    fresh = compile_filter(seccomp)
    expected = fresh.export_bpf()
    fresh.release()
    first = compile_filter(seccomp, cache_dir=str(tmp_path / "c"))
    second = compile_filter(seccomp, cache_dir=str(tmp_path / "c"))
    assert first.export_bpf() == second.export_bpf() == expected
    entries = list((tmp_path / "c").iterdir())
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700


def test_cache_is_keyed_by_the_whole_spec(tmp_path: Path) -> None:
    a = compile_filter(spec(rule(["mkdir"], errnoRet=38)), cache_dir=str(tmp_path))
    b = compile_filter(spec(rule(["mkdir"], errnoRet=39)), cache_dir=str(tmp_path))
    assert a.export_bpf() != b.export_bpf()
    assert len(list(tmp_path.iterdir())) == 2


def test_cache_entry_for_another_key_is_not_used(tmp_path: Path) -> None:
    seccomp = spec(rule(["mkdir"], errnoRet=38))
    good = compile_filter(seccomp, cache_dir=str(tmp_path)).export_bpf()
    (entry,) = tmp_path.iterdir()
    entry.write_bytes(b"some other key\0" + b"\x06\0\0\0\0\0\xff\x7f")  # RET ALLOW
    assert compile_filter(seccomp, cache_dir=str(tmp_path)).export_bpf() == good


def test_cache_still_validates_on_a_miss(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"syscalls\[0\]\.action"):
        compile_filter(spec(rule(["mkdir"], "SCMP_ACT_FOO")), cache_dir=str(tmp_path))


def test_cache_directory_writable_by_others_is_refused(tmp_path: Path) -> None:
    tmp_path.chmod(0o777)
    with pytest.raises(FailedPrecondition, match="not writable by group or others"):
        compile_filter(spec(rule(["mkdir"])), cache_dir=str(tmp_path))


# -- import cost ----------------------------------------------------------------------------


def test_import_pulls_in_no_heavy_modules() -> None:
    code = (
        "import sys; before = set(sys.modules); import wharfie.runtime.seccomp; "
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    new = set(out.stdout.split())
    heavy = {"re", "json", "enum", "logging", "dataclasses", "typing", "zlib", "hashlib"}
    assert not new & heavy, new & heavy
    # The filter compiler binds libseccomp through ctypes, imported by the module itself
    # (checked in the fresh interpreter above, not in pytest's own process).
    assert "ctypes" in new, new


def test_library_is_loaded_lazily() -> None:
    code = (
        "import wharfie.runtime.seccomp as s; print(s._lib is None); "
        "s.compile_filter({'defaultAction': 'SCMP_ACT_ALLOW'}).release(); print(s._lib is None)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "False"]


def test_unreadable_cache_entry_is_an_error_with_context(tmp_path: Path) -> None:
    seccomp = spec(rule(["mkdir"]))
    compile_filter(seccomp, cache_dir=str(tmp_path))
    (entry,) = tmp_path.iterdir()
    entry.unlink()
    entry.mkdir()  # a directory where the entry should be
    with pytest.raises(Unavailable, match=f"seccomp cache {tmp_path}: cannot read") as caught:
        compile_filter(seccomp, cache_dir=str(tmp_path))
    assert isinstance(caught.value.__cause__, OSError)


def test_filter_is_the_runtime_facing_name() -> None:
    from wharfie.runtime.seccomp import Filter, SeccompFilter

    assert Filter is SeccompFilter
