"""`wharfie bench isolation`: the classic "VMs vs containers" comparison, on this machine.

    wharfie bench isolation [--image busybox] [--rounds 3] [--chart isolation.svg]

For the same image, a plain container (the daemon's default runtime) against a VM-isolated
one (`--isolation vm`): start time of `run --rm IMAGE true`; memory per idle instance (the
container's cgroup as `stats` reports it: for a VM, QEMU, virtiofsd and the shim); a compute
loop; sequential and random disk writes and reads inside; the image and the VM's own footprint.
Every run goes through the daemon like a user's (the `wharfie` CLI, the API). It prints a
table, writes an SVG bar chart of the ratios and names the accelerator the VMs used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from wharfie.cli.flags import parse, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from wharfie.cli.context import Context

FLAGS = table(
    """
    - image value
    - rounds value
    - chart value
    - help bool
    """
)
KINDS: tuple[tuple[str, list[str]], ...] = (("container", []), ("vm", ["--isolation", "vm"]))
LOOP = "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"
# busybox's date has no %N: the guest's (or container's) uptime, in centiseconds
CLOCK = "t() { read u _ < /proc/uptime; echo ${u/./}; }; "
IO = (
    "a=$(t); dd if=/dev/zero of=/tmp/f bs=1M count=32 conv=fsync 2>/dev/null;"
    " b=$(t); dd if=/tmp/f of=/dev/null bs=1M 2>/dev/null; c=$(t);"
    " for o in 7 3 11 1 13 5 9 15 2 12 4 14 6 10 8 0; do"
    " dd if=/dev/zero of=/tmp/f bs=4k count=1 seek=$((o*509)) conv=notrunc,fsync 2>/dev/null;"
    " done; d=$(t);"
    " for o in 7 3 11 1 13 5 9 15 2 12 4 14 6 10 8 0; do"
    " dd if=/tmp/f of=/dev/null bs=4k count=1 skip=$((o*509)) 2>/dev/null; done; e=$(t);"
    " echo $((b-a)) $((c-b)) $((d-c)) $((e-d))"
)


def _wharfie(ctx: Context, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    exe = os.path.join(os.path.dirname(sys.executable), "wharfie")
    host, _ = ctx.host()
    return subprocess.run([exe, "-H", host, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)  # fmt: skip


def _ok(p: subprocess.CompletedProcess[str], what: str) -> str:
    if p.returncode != 0:
        raise RuntimeError(f"{what}: {p.stderr.strip() or p.returncode}")
    return p.stdout


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2


def _memory(ctx: Context, image: str, extra: list[str]) -> float:
    cid = _ok(_wharfie(ctx, "run", "-d", *extra, image, "sleep", "600"), "run -d").strip()
    try:
        time.sleep(3)  # idle
        stats = ctx.client.get_json(f"/containers/{cid}/stats", {"stream": "false"})
        return float((stats.get("memory_stats") or {}).get("usage") or 0) / 2**20
    finally:
        _wharfie(ctx, "rm", "-f", cid)


def measure(ctx: Context, image: str, rounds: int) -> dict[str, dict[str, float]]:
    res: dict[str, dict[str, list[float]]] = {k: {} for k, _ in KINDS}
    for r in range(rounds):
        for kind, extra in KINDS if r % 2 == 0 else tuple(reversed(KINDS)):
            t0 = time.perf_counter()
            _ok(_wharfie(ctx, "run", "--rm", *extra, image, "true"), f"{kind}: run true")
            res[kind].setdefault("start s", []).append(time.perf_counter() - t0)
            script = f"{CLOCK}t0=$(t); {LOOP}; t1=$(t); echo $((t1-t0)); {IO}"
            text = _ok(_wharfie(ctx, "run", "--rm", *extra, image, "sh", "-c", script), kind)
            lines = text.split()
            names = ("cpu loop s", "seq write s", "seq read s", "rand write s", "rand read s")
            for name, ns in zip(names, lines, strict=False):
                res[kind].setdefault(name, []).append(int(ns) / 100)
    out: dict[str, dict[str, float]] = {
        k: {m: _median(v) for m, v in d.items()} for k, d in res.items()
    }
    for kind, extra in KINDS:
        out[kind]["memory MiB"] = _memory(ctx, image, extra)
    return out


def footprint(ctx: Context, image: str) -> dict[str, float]:
    inspect = ctx.client.get_json(f"/images/{image}/json")
    image_mib = float(inspect.get("Size") or 0) / 2**20
    vm_mib = 0.0
    try:
        from wharfie.vm import assets

        k = assets.find_kernel()
        vm_mib = sum(os.path.getsize(p) for p in (k.vmlinux, k.initramfs)) / 2**20
    except Exception:  # no guest kernel here: no VM footprint to show
        pass
    return {"image MiB": image_mib, "vm kernel+initramfs MiB": vm_mib}


def svg_chart(rows: list[tuple[str, float, float]], accel: str) -> str:
    """Bars of VM/container per measurement, on a log-ish scale capped at 50x."""
    height = 40 + 28 * len(rows)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        f'<text x="10" y="20">VM / container, same image (accelerator: {accel})</text>',
    ]
    for i, (name, c, v) in enumerate(rows):
        y = 35 + 28 * i
        ratio = v / c if c else 0.0
        width = min(400.0, 40 * ratio) if ratio else 0
        parts.append(f'<text x="10" y="{y + 14}">{name}</text>')
        parts.append(f'<rect x="170" y="{y}" width="{width:.1f}" height="18" fill="#4a7"/>')
        parts.append(f'<text x="{175 + width:.1f}" y="{y + 14}">{ratio:.2f}x</text>')
    parts.append(f'<line x1="210" y1="30" x2="210" y2="{height - 5}" stroke="#999"/>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def cmd_isolation(ctx: Context, argv: list[str]) -> int:
    f = parse(argv, FLAGS)
    if f.on("help"):
        sys.stdout.write(__doc__ or "")
        return 0
    image = f.get("image") or "busybox"
    rounds = int(f.get("rounds") or 3)
    chart = f.get("chart") or "isolation.svg"
    info = ctx.client.get_json("/info")
    accel = "kvm"
    for w in info.get("Warnings") or []:
        if "wharfie-vm" in w and "TCG" in w:
            accel = "tcg (KVM not usable here)"
    try:
        res = measure(ctx, image, rounds)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        sys.stderr.write(f"wharfie bench isolation: {exc}\n")
        return 1
    fp = footprint(ctx, image)
    rows = [(m, res["container"][m], res["vm"].get(m, 0.0)) for m in res["container"]]
    print(f"image {image}, {rounds} rounds, accelerator for VMs: {accel}")
    print(f"{'measurement':<18} {'container':>12} {'vm':>12} {'vm/container':>13}")
    for name, c, v in rows:
        ratio = f"{v / c:.2f}x" if c else "-"
        print(f"{name:<18} {c:>12.3f} {v:>12.3f} {ratio:>13}")
    for name, value in fp.items():
        print(f"{name:<30} {value:>8.1f}")
    with open(chart, "w") as fh:
        fh.write(svg_chart(rows, accel))
    print(f"chart: {chart}")
    return 0
