"""Capabilities, no_new_privs and seccomp.

Observed with runc 1.1.5:
  default caps (AUDIT_WRITE, KILL, NET_BIND_SERVICE) -> CapPrm/CapEff/CapBnd 0000000020000420,
  CapInh/CapAmb 0; NoNewPrivs: 1.
  uid 1000 with AUDIT_WRITE, NET_BIND_SERVICE, NET_ADMIN in all five sets incl. ambient ->
  all five masks 0000000020001400, NoNewPrivs: 0 when noNewPrivileges is false.
  seccomp defaultAction SCMP_ACT_ALLOW + mkdir/mkdirat SCMP_ACT_ERRNO -> "Seccomp: 2",
  "mkdir: can't create directory '/tmp/x': Operation not permitted".
"""

from __future__ import annotations

import platform

import pytest

from support.oci_runtime import Container, MakeContainer, cap_mask, parse_proc_status_caps

pytestmark = pytest.mark.root

CAP_SETS = {
    "bounding": "CapBnd",
    "effective": "CapEff",
    "permitted": "CapPrm",
    "inheritable": "CapInh",
    "ambient": "CapAmb",
}


def expected_masks(caps: dict[str, list[str]]) -> dict[str, int]:
    return {field: cap_mask(caps.get(name, [])) for name, field in CAP_SETS.items()}


def probe_caps(ctr: Container) -> dict[str, int]:
    ctr.sh("grep Cap /proc/self/status")
    res = ctr.run().check()
    found = parse_proc_status_caps(res.stdout)
    assert set(found) >= set(CAP_SETS.values()), res.stdout
    return found


def test_default_capabilities(ctr: Container) -> None:
    caps = ctr.process["capabilities"]
    assert cap_mask(caps["bounding"]) == 0x20000420
    assert probe_caps(ctr) == expected_masks(caps)


def test_added_and_dropped_capabilities(ctr: Container) -> None:
    wanted = ["CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"]  # + NET_ADMIN - KILL
    caps = ctr.process["capabilities"]
    for name in ("bounding", "effective", "permitted"):
        caps[name] = list(wanted)
    found = probe_caps(ctr)
    assert found == expected_masks(caps)
    assert found["CapEff"] & cap_mask(["CAP_NET_ADMIN"])
    assert not found["CapBnd"] & cap_mask(["CAP_KILL"])


def test_net_admin_works_only_when_granted(make_container: MakeContainer) -> None:
    probe = "ip link set lo mtu 60000 && echo changed; cat /sys/class/net/lo/mtu"
    granted = make_container()
    for name in ("bounding", "effective", "permitted"):
        granted.process["capabilities"][name].append("CAP_NET_ADMIN")
    granted.sh(probe)
    res = granted.run().check()
    assert res.stdout.split() == ["changed", "60000"], res.describe()

    denied = make_container()
    denied.sh(probe)
    res = denied.run()
    assert "changed" not in res.stdout
    assert "60000" not in res.stdout
    assert "Operation not permitted" in res.stderr, res.describe()


def test_ambient_capabilities_for_non_root_user(ctr: Container) -> None:
    wanted = ["CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE", "CAP_NET_ADMIN"]
    ctr.process["capabilities"] = {name: list(wanted) for name in CAP_SETS}
    ctr.process["user"] = {"uid": 1000, "gid": 1000}
    ctr.process["noNewPrivileges"] = False
    found = probe_caps(ctr)
    mask = cap_mask(wanted)
    assert found == {field: mask for field in CAP_SETS.values()}


def test_non_root_without_ambient_has_no_effective_caps(ctr: Container) -> None:
    ctr.process["user"] = {"uid": 1000, "gid": 1000}
    found = probe_caps(ctr)
    assert found["CapBnd"] == cap_mask(ctr.process["capabilities"]["bounding"])
    assert found["CapEff"] == 0
    assert found["CapAmb"] == 0


@pytest.mark.parametrize("nnp", [True, False])
def test_no_new_privileges(ctr: Container, nnp: bool) -> None:
    ctr.process["noNewPrivileges"] = nnp
    ctr.sh("grep NoNewPrivs /proc/self/status")
    res = ctr.run().check()
    assert res.stdout.split() == ["NoNewPrivs:", "1" if nnp else "0"]


def seccomp_arch() -> str:
    return {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}.get(
        platform.machine(), "SCMP_ARCH_NATIVE"
    )


def test_seccomp_errno_for_mkdir(ctr: Container) -> None:
    ctr.spec["linux"]["seccomp"] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": [seccomp_arch()],
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}],
    }
    ctr.add_tmpfs("/tmp")
    ctr.sh("grep -E '^Seccomp:' /proc/self/status; mkdir /tmp/x; echo rc=$?")
    res = ctr.run().check()
    assert "Seccomp:\t2" in res.stdout, res.describe()
    assert "rc=1\n" in res.stdout, res.describe()
    assert "Operation not permitted" in res.stderr, res.describe()


def test_no_seccomp_without_profile(ctr: Container) -> None:
    ctr.add_tmpfs("/tmp")
    ctr.sh("grep -E '^Seccomp:' /proc/self/status; mkdir /tmp/x && echo made")
    res = ctr.run().check()
    assert "Seccomp:\t0" in res.stdout
    assert "made" in res.stdout
