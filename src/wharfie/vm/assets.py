"""The guest's kernel and initramfs: where they live, and how setup makes them.

`python -m wharfie.vm.assets build` (run by scripts/setup.sh) does, once:

* extracts the uncompressed `vmlinux` from Debian's `linux-image-amd64` bzImage (the kernel's
  own extract-vmlinux method: find a compression magic in the image, decompress from there,
  keep the first result that is an ELF file). QEMU boots an ELF vmlinux through its PVH entry
  point, which skips the bzImage's decompressor (seconds under TCG);
* builds the agent (`agent/agent.c`) as a static binary with gcc;
* writes an uncompressed initramfs (newc cpio) holding the agent as `/init` and the virtio
  modules the guest needs, in dependency order.

Everything goes under `<assets dir>/kernels/<release>/`; `current` names the default one.
The assets dir is `$WHARFIE_VM_DIR`, else `<sys.prefix>/share/wharfie/vm`.
"""

from __future__ import annotations

import glob
import gzip
import lzma
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from wharfie.errors import FailedPrecondition

# The guest needs these modules (Debian builds them as modules); their dependencies are
# added from modules.dep, each loaded before its users.
MODULES = (
    "virtio_mmio",
    "virtio_console",
    "virtiofs",
    "virtio_net",
    "9pnet_virtio",
    "9p",
)
# Loaded only for a VM whose share is an ext4 disk (`wharfie.disk`: checkpointable VMs).
DISK_MODULES = ("virtio_blk", "crc32c_generic", "ext4")
AGENT_SOURCE = os.path.join(os.path.dirname(__file__), "agent", "agent.c")


@dataclass(frozen=True)
class Kernel:
    release: str
    vmlinux: str
    initramfs: str
    default: bool


def assets_dir() -> str:
    return os.environ.get("WHARFIE_VM_DIR") or os.path.join(sys.prefix, "share", "wharfie", "vm")


def kernels(base: str | None = None) -> list[Kernel]:
    base = base or assets_dir()
    root = os.path.join(base, "kernels")
    current = _current(base)
    out = []
    for rel in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        d = os.path.join(root, rel)
        out.append(
            Kernel(rel, os.path.join(d, "vmlinux"), os.path.join(d, "initramfs"), rel == current)
        )
    return out


def _current(base: str) -> str:
    try:
        return os.readlink(os.path.join(base, "current"))
    except OSError:
        return ""


def find_kernel(release: str | None = None, base: str | None = None) -> Kernel:
    """The kernel to boot; a clear error when setup has not made one."""
    base = base or assets_dir()
    want = release or os.environ.get("WHARFIE_VM_KERNEL") or _current(base)
    for k in kernels(base):
        if k.release == want:
            for path in (k.vmlinux, k.initramfs):
                if not os.path.isfile(path):
                    raise FailedPrecondition(
                        f"wharfie-vm: guest kernel {k.release} is incomplete: {path} is missing"
                        " (run scripts/setup.sh)"
                    )
            return k
    raise FailedPrecondition(
        f"wharfie-vm: no guest kernel{' ' + want if want else ''} in {base}/kernels"
        " (scripts/setup.sh installs linux-image-amd64 and prepares it)"
    )


# -- extraction (pure apart from reading the image) ---------------------------------------------

_MAGICS = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x1f\x8b\x08", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x5d\x00\x00", "lzma"),
)


def extract_vmlinux(image: bytes) -> bytes:
    """The ELF kernel inside a bzImage (scripts/extract-vmlinux, in Python)."""
    if image[:4] == b"\x7fELF":
        return image
    for magic, kind in _MAGICS:
        start = image.find(magic)
        while start >= 0:
            try:
                out = _decompress(kind, image[start:])
            except Exception:  # a false magic match: try the next one
                out = b""
            if out[:4] == b"\x7fELF":
                return out
            start = image.find(magic, start + 1)
    raise ValueError("no compressed ELF kernel found in the image")


def _decompress(kind: str, data: bytes) -> bytes:
    if kind == "xz":
        return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(data)
    if kind == "lzma":
        return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data)
    if kind == "gzip":
        return gzip.GzipFile(fileobj=_Bytes(data)).read1(1 << 30)
    import zstandard

    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


class _Bytes:
    """A file over bytes that tolerates trailing garbage after the gzip member."""

    def __init__(self, data: bytes) -> None:
        import io

        self._f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def seek(self, off: int, whence: int = 0) -> int:
        return self._f.seek(off, whence)

    def tell(self) -> int:
        return self._f.tell()


def module_order(modules_dep: str, wanted: tuple[str, ...]) -> list[str]:
    """Module paths to load, dependencies first, from the text of modules.dep."""
    deps: dict[str, list[str]] = {}
    for line in modules_dep.splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    by_name = {os.path.basename(m).split(".ko")[0].replace("-", "_"): m for m in deps}
    order: list[str] = []

    def add(mod: str) -> None:
        if mod in order:
            return
        for dep in reversed(deps.get(mod, [])):  # modules.dep lists the deepest dependency last
            add(dep)
        order.append(mod)

    for name in wanted:
        found = by_name.get(name.replace("-", "_"))
        if found is None:
            raise FailedPrecondition(f"wharfie-vm: the guest kernel has no module {name}")
        add(found)
    return order


# -- initramfs ----------------------------------------------------------------------------------


def cpio_newc(entries: list[tuple[str, int, bytes]]) -> bytes:
    """A newc cpio archive of (name, mode, data) entries (directories have empty data)."""
    out = bytearray()
    for ino, (name, mode, data) in enumerate([*entries, ("TRAILER!!!", 0, b"")], start=1):
        nb = name.encode() + b"\0"
        fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0)
        out += b"070701" + b"".join(b"%08X" % f for f in fields) + nb
        out += b"\0" * (-len(out) % 4) + data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def initramfs(
    agent: bytes,
    modules: list[tuple[str, bytes]],
    disk_modules: list[tuple[str, bytes]] | None = None,
) -> bytes:
    """`/init` (the agent), `mods/NN-*.ko` always loaded, `mods/disk/NN-*.ko` for disk VMs."""
    entries: list[tuple[str, int, bytes]] = [
        (d, 0o40755, b"") for d in ("dev", "proc", "sys", "mods", "mods/disk", "share", "c")
    ]
    entries.append(("init", 0o100755, agent))
    for i, (name, data) in enumerate(modules):
        entries.append((f"mods/{i:02d}-{os.path.basename(name)}", 0o100644, data))
    for i, (name, data) in enumerate(disk_modules or []):
        entries.append((f"mods/disk/{i:02d}-{os.path.basename(name)}", 0o100644, data))
    return cpio_newc(entries)


# -- build --------------------------------------------------------------------------------------


def build_agent(out: str) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        raise FailedPrecondition("wharfie-vm: building the agent needs gcc")
    subprocess.run([cc, "-static", "-Os", "-s", "-Wall", "-o", out, AGENT_SOURCE], check=True)


def build(release: str | None = None, base: str | None = None) -> Kernel:
    base = base or assets_dir()
    images = sorted(glob.glob("/boot/vmlinuz-*"))
    if release:
        images = [f"/boot/vmlinuz-{release}"]
    if not images or not os.path.isfile(images[-1]):
        raise FailedPrecondition("wharfie-vm: no /boot/vmlinuz-* (install linux-image-amd64)")
    image = images[-1]
    rel = os.path.basename(image).removeprefix("vmlinuz-")
    d = os.path.join(base, "kernels", rel)
    os.makedirs(d, exist_ok=True)
    vmlinux = os.path.join(d, "vmlinux")
    if not os.path.exists(vmlinux) or os.path.getmtime(vmlinux) < os.path.getmtime(image):
        with open(image, "rb") as f:
            _write(vmlinux, extract_vmlinux(f.read()))
    agent = os.path.join(d, "agent")
    build_agent(agent)
    with open(os.path.join("/lib/modules", rel, "modules.dep")) as f:
        dep = f.read()
    order = module_order(dep, MODULES)
    disk_order = [m for m in module_order(dep, DISK_MODULES) if m not in order]
    mods, disk_mods = _read_modules(rel, order), _read_modules(rel, disk_order)
    with open(agent, "rb") as f:
        _write(os.path.join(d, "initramfs"), initramfs(f.read(), mods, disk_mods))
    # the stock kernel becomes the default, unless a built one (`wharfie vm kernel build
    # --default`, release "...-wharfie") is the default and still there
    current = _current(base)
    built = current.endswith("-wharfie") and os.path.isdir(os.path.join(base, "kernels", current))
    if not built:
        set_default(rel, base)
    return find_kernel(rel, base)


def set_default(release: str, base: str | None = None) -> None:
    base = base or assets_dir()
    link = os.path.join(base, "current")
    tmp = link + ".tmp"
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(release, tmp)
    os.replace(tmp, link)


def install_kernel(
    release: str, vmlinux: str, modules: list[tuple[str, bytes]], make_default: bool,
    base: str | None = None,
) -> Kernel:  # fmt: skip
    """Put a kernel built elsewhere (`kbuild.py`: everything built in) beside the others,
    with an initramfs of its own (the agent, and its modules if any)."""
    base = base or assets_dir()
    d = os.path.join(base, "kernels", release)
    os.makedirs(d, exist_ok=True)
    shutil.copyfile(vmlinux, os.path.join(d, "vmlinux.tmp"))
    os.replace(os.path.join(d, "vmlinux.tmp"), os.path.join(d, "vmlinux"))
    agent = os.path.join(d, "agent")
    build_agent(agent)
    with open(agent, "rb") as f:
        _write(os.path.join(d, "initramfs"), initramfs(f.read(), modules))
    if make_default or not _current(base):
        set_default(release, base)
    return find_kernel(release, base)


def _read_modules(release: str, paths: list[str]) -> list[tuple[str, bytes]]:
    out = []
    for m in paths:
        with open(os.path.join("/lib/modules", release, m), "rb") as f:
            out.append((m, f.read()))
    return out


def _write(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if argv[:1] == ["build"]:
        try:
            k = build(argv[1] if len(argv) > 1 else None)
        except (FailedPrecondition, ValueError, OSError, subprocess.CalledProcessError) as exc:
            print(f"wharfie-vm: {exc}", file=sys.stderr)
            return 1
        print(f"wharfie-vm: guest kernel {k.release}: {k.vmlinux}, {k.initramfs}")
        return 0
    print("usage: python -m wharfie.vm.assets build [RELEASE]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
