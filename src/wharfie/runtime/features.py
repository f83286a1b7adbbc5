"""`wharfie-runtime features`: what this runtime supports, in the runtime-spec features format."""

from __future__ import annotations

from wharfie.oci import capabilities, runtime_spec
from wharfie.runtime import mount_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

SECCOMP_ACTIONS = [
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
]
SECCOMP_OPERATORS = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
]


def features() -> dict[str, Any]:
    options = sorted({*mount_options.FLAGS, *mount_options.PROPAGATION})
    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": list(runtime_spec.HOOK_NAMES),
        "mountOptions": options,
        "linux": {
            "namespaces": [n for n in runtime_spec.NAMESPACES],
            "capabilities": list(capabilities.NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {
                "enabled": True,
                "actions": SECCOMP_ACTIONS,
                "operators": SECCOMP_OPERATORS,
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
            },
            "apparmor": {"enabled": False},
            "selinux": {"enabled": False},
        },
        "annotations": {"org.wharfie.runtime.version": "0.1.0"},
    }
