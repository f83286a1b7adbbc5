"""Docker's default seccomp profile (moby 25/26) as pure data, and that every rule compiles."""

from __future__ import annotations

from typing import Any

import pytest

from wharfie.errors import InvalidArgument
from wharfie.oci.seccomp_default import (
    ALWAYS_ALLOWED,
    CLONE_NAMESPACE_FLAGS,
    DOCKER_DEFAULT_CAPABILITIES,
    default_profile,
)
from wharfie.runtime.seccomp import compile_filter

CLONE_NEWUSER = 0x10000000
ALL_CAPS = [
    "CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_TIME",
    "CAP_SYS_BOOT", "CAP_SYS_PACCT", "CAP_SYS_CHROOT", "CAP_SYS_NICE", "CAP_SYSLOG",
    "CAP_SYS_TTY_CONFIG", "CAP_SYS_RESOURCE", "CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH",
]  # fmt: skip
# Names that kernels older than 6.5 (and libseccomp older than Debian's 2.5.4) may not know.
NEWER_SYSCALLS = {"cachestat", "fchmodat2", "map_shadow_stack", "futex_wake", "futex_wait"}
NEWER_SYSCALLS |= {"futex_requeue"}


def rules_for(profile: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [rule for rule in profile["syscalls"] if name in rule["names"]]


def allowed(profile: dict[str, Any], name: str) -> bool:
    """Allowed whatever its arguments."""
    return any(
        r["action"] == "SCMP_ACT_ALLOW" and "args" not in r for r in rules_for(profile, name)
    )


def blocked(profile: dict[str, Any], name: str) -> bool:
    """No rule at all: the default action (EPERM) applies."""
    return not rules_for(profile, name)


def test_default_action_is_eperm() -> None:
    profile = default_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1
    assert "flags" not in profile and "listenerPath" not in profile


def test_x86_64_covers_the_compat_abis() -> None:
    assert default_profile()["architectures"] == [
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X32",
    ]


@pytest.mark.parametrize(
    ("arch", "expected"),
    [
        ("amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        ("aarch64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        ("arm64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        ("s390x", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]),
        ("riscv64", ["SCMP_ARCH_RISCV64"]),
        ("ppc64le", None),
    ],
)
def test_architectures_follow_mobys_arch_map(arch: str, expected: list[str] | None) -> None:
    assert default_profile(arch=arch).get("architectures") == expected


def test_unknown_architecture_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="unknown architecture 'vax'"):
        default_profile(arch="vax")


BLOCKED_BY_DEFAULT = [
    "mount", "umount2", "umount", "unshare", "setns", "keyctl", "add_key", "request_key",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "open_by_handle_at", "reboot", "swapon", "swapoff", "bpf", "perf_event_open", "acct",
    "settimeofday", "clock_settime", "iopl", "ioperm", "syslog", "vhangup", "mbind",
    "fsopen", "fsmount", "move_mount", "open_tree", "pivot_root", "sethostname",
    "setdomainname", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kcmp", "pidfd_getfd", "process_madvise", "lookup_dcookie", "quotactl", "nfsservctl",
    "uselib", "ustat", "sysfs", "_sysctl", "vm86", "create_module",
]  # fmt: skip


@pytest.mark.parametrize("name", BLOCKED_BY_DEFAULT)
def test_blocked_with_docker_default_capabilities(name: str) -> None:
    assert blocked(default_profile(), name)


ALLOWED_BY_DEFAULT = [
    "read", "write", "openat", "close", "execve", "execveat", "exit_group", "mmap", "brk",
    "futex", "clock_gettime", "getpid", "wait4", "fork", "vfork", "rt_sigreturn", "prctl",
    "arch_prctl", "modify_ldt", "seccomp", "socketpair", "name_to_handle_at", "memfd_create",
    "pidfd_open", "landlock_create_ruleset", "statx", "ptrace", "process_vm_readv",
    "chroot",  # Docker grants CAP_SYS_CHROOT by default
    "cachestat", "fchmodat2", "map_shadow_stack", "futex_wake",
]  # fmt: skip


@pytest.mark.parametrize("name", ALLOWED_BY_DEFAULT)
def test_allowed_with_docker_default_capabilities(name: str) -> None:
    assert allowed(default_profile(), name)


def test_allow_list_has_no_duplicates_or_io_uring() -> None:
    assert len(ALWAYS_ALLOWED) == len(set(ALWAYS_ALLOWED)) == 352
    assert not [name for name in ALWAYS_ALLOWED if name.startswith("io_uring")]


def test_clone_may_not_create_namespaces_without_cap_sys_admin() -> None:
    profile = default_profile()
    (rule,) = rules_for(profile, "clone")
    assert rule["action"] == "SCMP_ACT_ALLOW"
    (cond,) = rule["args"]
    assert cond["op"] == "SCMP_CMP_MASKED_EQ" and cond["index"] == 0
    assert cond["value"] == CLONE_NAMESPACE_FLAGS == 0x7E020000
    assert cond["value"] & CLONE_NEWUSER
    assert cond.get("valueTwo", 0) == 0


def test_clone_on_s390_tests_the_second_argument() -> None:
    (rule,) = rules_for(default_profile(arch="s390x"), "clone")
    assert rule["args"][0]["index"] == 1


def test_clone3_fails_with_enosys_without_cap_sys_admin() -> None:
    (rule,) = rules_for(default_profile(), "clone3")
    assert rule == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}


def test_cap_sys_admin_opens_mount_namespace_and_clone() -> None:
    profile = default_profile(["CAP_SYS_ADMIN"])
    for name in ("mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "syslog"):
        assert allowed(profile, name), name
    assert not [r for r in rules_for(profile, "clone3") if r["action"] != "SCMP_ACT_ALLOW"]
    assert all("args" not in r for r in rules_for(profile, "clone"))


def test_capabilities_none_means_dockers_default_set() -> None:
    assert default_profile() == default_profile(list(DOCKER_DEFAULT_CAPABILITIES))
    assert blocked(default_profile([]), "chroot")


def test_capability_spelling_is_forgiving() -> None:
    assert default_profile(["sys_admin"]) == default_profile(["CAP_SYS_ADMIN"])


@pytest.mark.parametrize(
    ("cap", "name"),
    [
        ("CAP_SYS_PTRACE", "kcmp"),
        ("CAP_SYS_PTRACE", "pidfd_getfd"),
        ("CAP_SYS_PTRACE", "process_madvise"),
        ("CAP_SYS_MODULE", "init_module"),
        ("CAP_SYS_MODULE", "finit_module"),
        ("CAP_SYS_MODULE", "delete_module"),
        ("CAP_SYS_RAWIO", "iopl"),
        ("CAP_SYS_RAWIO", "ioperm"),
        ("CAP_SYS_TIME", "settimeofday"),
        ("CAP_SYS_TIME", "clock_settime"),
        ("CAP_SYS_BOOT", "reboot"),
        ("CAP_SYS_PACCT", "acct"),
        ("CAP_SYS_CHROOT", "chroot"),
        ("CAP_SYS_NICE", "mbind"),
        ("CAP_SYS_NICE", "set_mempolicy_home_node"),
        ("CAP_SYSLOG", "syslog"),
        ("CAP_SYS_TTY_CONFIG", "vhangup"),
        ("CAP_BPF", "bpf"),
        ("CAP_PERFMON", "perf_event_open"),
        ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
        ("CAP_SYS_ADMIN", "fsopen"),
        ("CAP_SYS_ADMIN", "quotactl_fd"),
    ],
)
def test_capability_unlocks_its_syscalls(cap: str, name: str) -> None:
    assert blocked(default_profile([]), name)
    assert allowed(default_profile([cap]), name)


def test_no_capability_unlocks_keyrings_kexec_or_swap() -> None:
    profile = default_profile(ALL_CAPS)
    for name in ("keyctl", "add_key", "request_key", "kexec_load", "swapon", "userfaultfd"):
        assert blocked(profile, name), name


def test_personality_only_for_known_domains() -> None:
    rules = rules_for(default_profile(), "personality")
    values = sorted(r["args"][0]["value"] for r in rules)
    assert values == [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert all(r["args"][0]["op"] == "SCMP_CMP_EQ" for r in rules)


def test_socket_allowed_except_vsock() -> None:
    (rule,) = rules_for(default_profile(), "socket")
    assert rule["args"] == [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]


def test_arch_specific_rules() -> None:
    assert blocked(default_profile(), "breakpoint")
    assert allowed(default_profile(arch="aarch64"), "set_tls")
    assert blocked(default_profile(arch="aarch64"), "arch_prctl")
    assert allowed(default_profile(arch="s390x"), "s390_runtime_instr")
    assert allowed(default_profile(arch="riscv64"), "riscv_flush_icache")
    assert allowed(default_profile(arch="ppc64le"), "swapcontext")


def test_fresh_dict_every_call() -> None:
    a = default_profile()
    a["syscalls"][0]["names"].append("kexec_load")
    a["architectures"].clear()
    assert blocked(default_profile(), "kexec_load")
    assert default_profile()["architectures"]


# -- every rule validates and compiles ------------------------------------------------------


@pytest.mark.parametrize(
    "caps", [None, [], ["CAP_SYS_ADMIN"], ALL_CAPS], ids=["docker", "none", "admin", "all"]
)
def test_compiles(caps: list[str] | None) -> None:
    f = compile_filter(default_profile(caps))
    try:
        assert set(f.skipped) <= NEWER_SYSCALLS
        assert f.rule_count > 350
        text = f.export_pfc()
    finally:
        f.release()
    for arch in ("x86_64", "x86", "x32"):
        assert f"# filter for arch {arch} " in text


@pytest.mark.parametrize("arch", ["aarch64", "riscv64", "ppc64le", "mipsel64"])
def test_compiles_for_other_little_endian_architectures(arch: str) -> None:
    compile_filter(default_profile(ALL_CAPS, arch=arch)).release()


@pytest.mark.parametrize("arch", ["s390x", "mips64"])
def test_big_endian_profiles_only_compile_on_their_hosts(arch: str) -> None:
    """libseccomp cannot mix byte orders in one filter (EDOM); the error names the field."""
    with pytest.raises(InvalidArgument, match=r"linux\.seccomp\.architectures\[0\]: libseccomp"):
        compile_filter(default_profile(arch=arch))


def test_compiled_default_profile_shape() -> None:
    f = compile_filter(default_profile())
    try:
        text = f.export_pfc()
    finally:
        f.release()
    native = text[: text.index("# filter for arch x86 ")]
    assert 'syscall "mount"' not in native and 'syscall "unshare"' not in native
    clone3 = native.split('syscall "clone3"')[1].split("# filter for syscall")[0]
    assert "ERRNO(38)" in clone3
    clone = native.split('syscall "clone" ')[1].split("# filter for syscall")[0]
    assert "& 0x7e020000 == 0" in clone
