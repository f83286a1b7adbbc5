"""The pure parts of wharfie-vm: frames, spec -> agent records, QEMU argv, kernel extraction,
initramfs, accelerator verdicts (no root, no QEMU)."""

from __future__ import annotations

import gzip
import lzma
import struct
from pathlib import Path
from typing import Any

import pytest

from wharfie.errors import InvalidArgument, NotImplementedFeature
from wharfie.vm import accel, assets, proto, qemu
from wharfie.vm.cli import CLIError, parse_signal


def test_frames_round_trip_split_anywhere() -> None:
    data = proto.frame(proto.STDOUT, 3, b"hello") + proto.frame(
        proto.EXITED, 0, struct.pack("<i", 7)
    )
    for cut in range(len(data) + 1):
        dec = proto.Decoder()
        got = dec.feed(data[:cut]) + dec.feed(data[cut:])
        assert got == [(b"O", 3, b"hello"), (b"X", 0, b"\x07\x00\x00\x00")]


def test_process_records() -> None:
    recs = proto.process_records({
        "args": ["sh", "-c", "echo a=b"], "env": ["PATH=/bin", "X=1"], "cwd": "/tmp",
        "user": {"uid": 1000, "gid": 1001, "additionalGids": [5, 6]}, "terminal": True,
        "consoleSize": {"height": 30, "width": 100},
        "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": 2048}],
    })  # fmt: skip
    assert recs == [
        "arg=sh", "arg=-c", "arg=echo a=b", "env=PATH=/bin", "env=X=1", "cwd=/tmp", "uid=1000",
        "gid=1001", "group=5", "group=6", "tty=1", "rows=30", "cols=100", "rlimit=7 1024 2048",
    ]  # fmt: skip
    assert proto.encode_records(["a=1", "b=2"]) == b"a=1\0b=2\0"


@pytest.mark.parametrize(
    ("process", "message"),
    [
        ({"args": []}, "process.args must not be empty"),
        (
            {"args": ["x"], "rlimits": [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]},
            "RLIMIT_BOGUS",
        ),
        ({"args": ["a\0b"]}, "NUL byte"),
    ],
)
def test_process_records_refuse(process: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        proto.process_records(process)


def test_mounts_plan_docker_defaults_and_binds() -> None:
    plan = proto.plan_mounts(
        [
            {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid"]},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "newinstance"],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["ro"],
            },
            {
                "destination": "/data",
                "type": "bind",
                "source": "/var/lib/v/_data",
                "options": ["rbind", "rprivate"],
            },
            {
                "destination": "/etc/hosts",
                "type": "bind",
                "source": "/x/hosts",
                "options": ["rbind", "ro"],
            },
        ]
    )
    assert plan.records == [
        "mount=devtmpfs|tmpfs|/dev|16777218|",  # nosuid, strictatime; tmpfs data dropped
        "mount=gbind|/dev/pts|/dev/pts|0|",
        "mount=sysfs|sysfs|/sys|15|",
        "mount=cgroup2|cgroup|/sys/fs/cgroup|1|",
        "mount=bind|m0|/data|0|",
        "mount=bind|m1|/etc/hosts|1|",
    ]
    assert plan.shares == [
        proto.Share("m0", "/var/lib/v/_data", False, "/data"),
        proto.Share("m1", "/x/hosts", True, "/etc/hosts"),
    ]


def test_mounts_refuse_relative_destination() -> None:
    with pytest.raises(InvalidArgument, match="not an absolute path"):
        proto.plan_mounts([{"destination": "data", "type": "tmpfs"}])


def test_unsupported_spec_features_are_named() -> None:
    with pytest.raises(NotImplementedFeature, match=r"linux.devices \(/dev/fuse\)"):
        proto.check_supported(
            {"process": {"args": ["x"]}, "linux": {"devices": [{"path": "/dev/fuse"}]}}
        )
    with pytest.raises(NotImplementedFeature, match="joining the pid namespace"):
        proto.check_supported(
            {
                "process": {"args": ["x"]},
                "linux": {"namespaces": [{"type": "pid", "path": "/proc/1/ns/pid"}]},
            }
        )
    proto.check_supported(
        {
            "process": {"args": ["x"]},
            "linux": {"namespaces": [{"type": "network", "path": "/run/netns/x"}]},
        }
    )


def test_resources_size_the_vm() -> None:
    assert proto.resources({}) == (512, 1)
    assert proto.resources({"linux": {"resources": {"memory": {"limit": 256 << 20}}}}) == (256, 1)
    assert proto.resources({"linux": {"resources": {"memory": {"limit": 16 << 20}}}}) == (128, 1)
    assert proto.resources(
        {"linux": {"resources": {"cpu": {"quota": 150000, "period": 100000}}}}
    ) == (512, 2)
    assert proto.resources({"linux": {"resources": {"cpu": {"cpus": "0-2,5"}}}}) == (512, 4)


def test_qemu_argv() -> None:
    cfg = qemu.VMConfig(kernel="/k/vmlinux", initramfs="/k/initrd", state_dir="/s/abc",
                        memory_mib=256, vcpus=2, accel="tcg", tsc_khz=2600000, tap_fd=9,
                        mac="02:42:0a:00:00:02")  # fmt: skip
    argv = qemu.qemu_argv("/usr/bin/qemu-system-x86_64", cfg)
    joined = " ".join(argv)
    assert argv[argv.index("-accel") + 1] == "tcg"
    assert argv[argv.index("-cpu") + 1] == "max"
    assert "pit=on" in argv[argv.index("-M") + 1]  # the fallback tick under TCG
    assert argv[argv.index("-m") + 1] == "256M" and argv[argv.index("-smp") + 1] == "2"
    assert "memory-backend-memfd,id=mem,size=256M,share=on" in argv
    assert "tsc_early_khz=2600000" in argv[argv.index("-append") + 1]
    assert "virtio-mmio.force-legacy=false" in argv  # vhost-user-fs refuses legacy devices
    assert "tap,id=net0,fd=9" in joined and "mac=02:42:0a:00:00:02" in joined
    for path in qemu.paths("/s/abc").values():
        assert len(path) < 108
    assert "vhost-user-fs-device,chardev=fs0,tag=wharfie" in argv
    nine = qemu.qemu_argv("q", qemu.VMConfig("/k", "/i", "/s", fs="9p"))
    assert "virtio-9p-device,fsdev=fs0,mount_tag=wharfie" in nine
    assert "local,id=fs0,path=/s/share,security_model=passthrough" in nine
    assert not any("vhost-user-fs" in a for a in nine)
    kvm = qemu.qemu_argv("q", qemu.VMConfig("/k", "/i", "/s", accel="kvm"))
    assert kvm[kvm.index("-cpu") + 1] == "host" and "-netdev" not in kvm
    assert "pit=off" in kvm[kvm.index("-M") + 1]


def test_sockets_fit_sun_path_for_long_state_dirs() -> None:
    long_dir = "/tmp/pytest-of-root/pytest-1/wharfied0/exec/runtime/wharfie-vm/" + "a" * 64
    for path in qemu.paths(long_dir).values():
        if path.endswith(".sock"):
            assert len(path) < 108


def _elf(n: int = 5000) -> bytes:
    return b"\x7fELF" + bytes(range(256)) * (n // 256)


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress])
def test_extract_vmlinux_finds_the_compressed_elf(compress: object) -> None:
    elf = _elf()
    image = (
        b"MZ\0\0" + b"\x1f\x8b\x08junk that is not gzip" + b"\0" * 100 + compress(elf) + b"\0" * 64
    )  # type: ignore[operator]
    assert assets.extract_vmlinux(image) == elf
    assert assets.extract_vmlinux(elf) == elf
    with pytest.raises(ValueError, match="no compressed ELF"):
        assets.extract_vmlinux(b"MZ" + b"\0" * 1000)


def test_module_order_puts_dependencies_first() -> None:
    dep = (
        "kernel/a/virtio.ko: kernel/a/virtio_ring.ko\n"
        "kernel/a/virtio_ring.ko:\n"
        "kernel/fs/virtiofs.ko: kernel/a/virtio.ko kernel/a/virtio_ring.ko kernel/fs/fuse.ko\n"
        "kernel/fs/fuse.ko:\n"
    )
    assert assets.module_order(dep, ("virtiofs",)) == [
        "kernel/fs/fuse.ko",
        "kernel/a/virtio_ring.ko",
        "kernel/a/virtio.ko",
        "kernel/fs/virtiofs.ko",
    ]
    with pytest.raises(Exception, match="no module nosuch"):
        assets.module_order(dep, ("nosuch",))


def test_cpio_newc_layout() -> None:
    data = assets.cpio_newc([("init", 0o100755, b"abc")])
    assert data.startswith(b"070701")
    assert b"init\0" in data and b"TRAILER!!!\0" in data
    assert len(data) % 4 == 0
    size = int(data[54:62], 16)
    assert size == 3


def test_accelerator_verdicts() -> None:
    flags = accel.cpu_flags("processor : 0\nflags\t\t: fpu sse2 hypervisor\n")
    assert flags == {"fpu", "sse2", "hypervisor"}
    pvm = accel.static_verdict(True, flags)
    assert pvm is not None and pvm.name == "tcg" and "PVM" in pvm.reason
    assert "TCG" in pvm.warning
    nokvm = accel.static_verdict(False, {"vmx"})
    assert nokvm is not None and nokvm.name == "tcg"
    assert accel.static_verdict(True, {"vmx"}) is None  # needs the probe boot
    assert accel.Accel("kvm", "probe").warning == ""


def test_parse_signal() -> None:
    assert parse_signal("KILL") == 9 and parse_signal("SIGTERM") == 15 and parse_signal("2") == 2
    with pytest.raises(CLIError, match="invalid signal"):
        parse_signal("NOPE")


def test_find_kernel_missing_is_clear(tmp_path: object) -> None:
    with pytest.raises(Exception, match="no guest kernel"):
        assets.find_kernel(base=str(tmp_path))


def test_compose_runtime_selects_wharfie_vm(tmp_path: Path) -> None:
    from wharfie.compose import convert
    from wharfie.compose.loader import Options, load

    (tmp_path / "compose.yaml").write_text(
        "services:\n  web:\n    image: busybox\n    runtime: wharfie-vm\n"
        "  plain:\n    image: busybox\n"
    )
    p = load(Options(cwd=str(tmp_path), environ={}, project_name="demo"))
    ctx = convert.Context(p.model, p.working_dir, p.config_files)
    web = convert.create_body(ctx, "web", p.services["web"], 1, "demo-web-1")
    plain = convert.create_body(ctx, "plain", p.services["plain"], 1, "demo-plain-1")
    assert web["HostConfig"]["Runtime"] == "wharfie-vm"
    assert "Runtime" not in plain["HostConfig"]


def test_cli_isolation_vm_is_the_runtime() -> None:
    from wharfie.cli.createbody import RUN_FLAGS, build
    from wharfie.cli.flags import parse

    def body(*argv: str) -> dict[str, Any]:
        f = parse(list(argv), RUN_FLAGS, interspersed=False)
        return build(f, f.args[0], f.args[1:], {})

    assert body("--isolation", "vm", "busybox")["HostConfig"]["Runtime"] == "wharfie-vm"
    assert body("--isolation", "default", "busybox")["HostConfig"]["Isolation"] == ""
    assert "Runtime" not in body("busybox")["HostConfig"]
    with pytest.raises(InvalidArgument, match='invalid isolation "hyperv"'):
        body("--isolation", "hyperv", "busybox")


def test_wharfie_vm_kernel_ls() -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "wharfie"
    try:
        k = assets.find_kernel()
    except Exception as exc:
        pytest.skip(f"no guest kernel: {exc}")
    p = subprocess.run([str(exe), "vm", "kernel", "ls"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    row = [ln for ln in p.stdout.splitlines() if ln.startswith(k.release)]
    assert row and "*" in row[0]
    bad = subprocess.run([str(exe), "vm", "kernel", "frobnicate"], capture_output=True, text=True)
    assert bad.returncode == 1 and "Usage" in bad.stderr


def test_isolation_chart_svg() -> None:
    from wharfie.cli.bench import svg_chart

    svg = svg_chart([("start s", 0.1, 9.0), ("memory MiB", 0.0, 170.0)], "tcg")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    assert "90.00x" in svg and "accelerator: tcg" in svg
    assert "0.00x" in svg  # no container figure: no division by zero
