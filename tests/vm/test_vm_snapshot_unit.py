"""The pure parts of checkpoints, disk-rooted VMs, the DNS relay and the kernel build (no root,
no QEMU): option parsing, sizes, refusals, QEMU argv, checkpoint metadata, engine checks."""

from __future__ import annotations

import json
import os
import selectors
import socket
from pathlib import Path

import pytest

from wharfie.engine import checkpoints
from wharfie.errors import InvalidArgument, NotFound
from wharfie.vm import assets, disk, dnsrelay, kbuild, proto, qemu, snapshot


def test_disk_mode_is_asked_by_annotation_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHARFIE_VM_ROOTFS", raising=False)
    assert not disk.wanted({})
    assert disk.wanted({"annotations": {disk.ANNOTATION: "disk"}})
    assert not disk.wanted({"annotations": {disk.ANNOTATION: "share"}})
    with pytest.raises(InvalidArgument, match="expected 'disk' or 'share'"):
        disk.wanted({"annotations": {disk.ANNOTATION: "nvme"}})
    monkeypatch.setenv("WHARFIE_VM_ROOTFS", "disk")
    assert disk.wanted({})
    assert not disk.wanted({"annotations": {disk.ANNOTATION: "share"}})  # the container wins


def test_disk_refuses_shared_directories(tmp_path: Path) -> None:
    f = tmp_path / "hosts"
    f.write_text("x")
    disk.check_shares([proto.Share("m0", str(f), False, "/etc/hosts")])  # files are copied
    with pytest.raises(InvalidArgument) as exc:
        disk.check_shares([proto.Share("m1", str(tmp_path), False, "/data")])
    assert f"directory {tmp_path} at /data" in str(exc.value)
    assert "QEMU cannot migrate" in str(exc.value)


def test_disk_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WHARFIE_VM_DISK_MB", raising=False)
    mib = disk.MIB
    assert disk.size_for(0) == disk.HEADROOM
    assert disk.size_for(100 * mib) == 125 * mib + disk.HEADROOM
    assert disk.size_for(1) % mib == 0
    monkeypatch.setenv("WHARFIE_VM_DISK_MB", "300")
    assert disk.size_for(10**9) == 300 * mib


def test_qemu_argv_of_a_disk_vm_and_a_restore() -> None:
    cfg = qemu.VMConfig("/k", "/i", "/s", fs="disk", disk="/b/wharfie-vm-disk.img",
                        root_readonly=True, incoming="/cp dir/memory.img")  # fmt: skip
    argv = qemu.qemu_argv("q", cfg)
    joined = " ".join(argv)
    assert "virtio-blk-device,drive=disk0" in argv
    assert "file=/b/wharfie-vm-disk.img,if=none,id=disk0" in joined
    assert "vhost-user-fs" not in joined and "9p" not in joined  # nothing QEMU cannot migrate
    append = argv[argv.index("-append") + 1]
    assert "wharfie.disk" in append and "wharfie.rootro" in append
    assert argv[argv.index("-incoming") + 1] == "exec:cat '/cp dir/memory.img'"
    assert "-S" in argv  # paused until the shim is connected
    plain = qemu.qemu_argv("q", qemu.VMConfig("/k", "/i", "/s"))
    assert "-incoming" not in plain and "-S" not in plain
    assert "wharfie.disk" not in plain[plain.index("-append") + 1]


def test_initramfs_keeps_disk_modules_apart() -> None:
    data = assets.initramfs(b"AGENT", [("kernel/a.ko", b"A")], [("kernel/ext4.ko", b"E")])
    assert b"mods/00-a.ko\0" in data and b"mods/disk/00-ext4.ko\0" in data
    assert b"mods/disk\0" in data  # the directory itself


def test_checkpoint_meta_round_trip(tmp_path: Path) -> None:
    meta = snapshot.Meta(container="c1", kernel="6.1.0-57-amd64", qemu="QEMU emulator 7.2",
                         memory_mib=512, vcpus=1, accel="tcg", tsc_khz=2600000, tty=False,
                         mac="02:42:0a:00:00:02", net="net=10.0.0.2/24|10.0.0.1")  # fmt: skip
    with pytest.raises(NotFound, match="not a wharfie-vm checkpoint"):
        snapshot.load_meta(str(tmp_path))
    snapshot.save_meta(str(tmp_path), meta)
    with pytest.raises(NotFound, match=r"incomplete: no memory\.img"):
        snapshot.load_meta(str(tmp_path))
    (tmp_path / snapshot.MEMORY).write_bytes(b"m")
    (tmp_path / snapshot.DISK).write_bytes(b"d")
    assert snapshot.load_meta(str(tmp_path)) == meta
    raw = json.loads((tmp_path / snapshot.META).read_text())
    raw["format"] = 99
    (tmp_path / snapshot.META).write_text(json.dumps(raw))
    with pytest.raises(InvalidArgument, match="unknown checkpoint format 99"):
        snapshot.load_meta(str(tmp_path))


def test_engine_checkpoint_dir_checks(tmp_path: Path) -> None:
    base = str(tmp_path / "checkpoints")
    path = checkpoints.checkpoint_dir("", "cp1", "web", base, create=True)
    assert path == os.path.join(base, "cp1") and os.path.isdir(path)
    with pytest.raises(checkpoints.CheckpointError) as exc:
        checkpoints.checkpoint_dir("", "cp1", "web", base, create=True)
    assert str(exc.value) == "checkpoint with name cp1 already exists for container web"
    with pytest.raises(checkpoints.CheckpointError) as exc:
        checkpoints.checkpoint_dir("", "cp2", "/web", base, create=False)
    assert str(exc.value) == "checkpoint cp2 does not exist for container /web"
    custom = checkpoints.checkpoint_dir(str(tmp_path / "elsewhere"), "x1", "w", base, True)
    assert custom == str(tmp_path / "elsewhere" / "x1")
    (tmp_path / "file").write_text("")
    with pytest.raises(checkpoints.CheckpointError, match="exists and is not a directory"):
        checkpoints.checkpoint_dir(str(tmp_path), "file", "w", base, create=False)
    assert checkpoints.VALID_NAME.match("cp1") and not checkpoints.VALID_NAME.match("c")
    assert not checkpoints.VALID_NAME.match("-x") and not checkpoints.VALID_NAME.match("a/b")
    opts = checkpoints.CreateOptions.from_body({"CheckpointID": "a1", "Exit": True})
    assert opts == checkpoints.CreateOptions("a1", "", True)
    with pytest.raises(InvalidArgument):
        checkpoints.CreateOptions.from_body([])


def test_dns_relay_answers_and_expires() -> None:
    """The relay sends the query from this namespace and hands back the answer by tag."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    sel = selectors.DefaultSelector()
    got: list[tuple[int, bytes]] = []
    relay = dnsrelay.Relay(sel, lambda tag, data: got.append((tag, data)), server.getsockname())
    try:
        relay.query(7, b"question")
        data, peer = server.recvfrom(100)
        assert data == b"question"
        server.sendto(b"answer", peer)
        for key, _ in sel.select(timeout=5):
            key.data()
        assert got == [(7, b"answer")] and not relay.pending
        relay.query(8, b"unanswered")
        relay.expire(float("inf"))
        assert not relay.pending and not sel.get_map()
    finally:
        server.close()


def test_kernel_config() -> None:
    args = kbuild.config_lines(("PVH", "VIRTIO_BLK"))
    assert args[:4] == ["--enable", "PVH", "--enable", "VIRTIO_BLK"]
    assert args[4:6] == ["--disable", "MODULES"]
    assert "--set-str" in args and kbuild.LOCALVERSION in args
    assert set(kbuild.REQUIRED) <= set(kbuild.ENABLE)
    full = "\n".join(f"CONFIG_{o}=y" for o in kbuild.REQUIRED)
    assert kbuild.check_config(full) == []
    assert kbuild.check_config(full.replace("CONFIG_PVH=y", "# CONFIG_PVH is not set")) == ["PVH"]


def test_kernel_build_without_the_source_says_how(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from wharfie.errors import FailedPrecondition

    monkeypatch.setattr(kbuild, "source_tarball", lambda: None)
    with pytest.raises(FailedPrecondition) as exc:
        kbuild.build(str(tmp_path), 1, False, lambda _m: None)
    assert "apt-get install linux-source-6.1" in str(exc.value)
    assert "wharfie vm kernel build --install" in str(exc.value)
    assert not list(tmp_path.iterdir())  # nothing started
