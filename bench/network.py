"""Network benchmarks (issue 7): bridge start-up cost and TCP throughput, wharfie vs the peers.

Starts its own wharfied (temporary roots, socket and bridge, as tests/support/daemon.py does),
imports busybox into it, and measures:

* overhead — `run --rm busybox true` with the default bridge minus the same with
  `--network none`, for wharfie, docker (the peer dockerd) and podman, interleaved;
* c2c — container-to-container TCP throughput on a user-defined bridge network, against
  the same transfer over the host's loopback (target >= 0.9x);
* published — throughput from the host to a container's published port on 127.0.0.1,
  wharfie (nftables DNAT) against docker (its userland proxy), in the same run.

* steps — in-process times of the default bridge's own work (netns, veth, unmount).

Throughput uses a small Python sender/receiver (Debian's python3, bind-mounted read-only
with /usr into the busybox container and started through its loader, since busybox nc
cannot move bulk data). Run as root: ``.venv/bin/python bench/network.py [--rounds N]
[--mib N] [--only overhead,steps,c2c,published] [--json FILE]``. Peers that are not there
are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib import median

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
WHARFIE = str(VENV_BIN / "wharfie")
DOCKER = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else "docker"
PODMAN = shutil.which("podman") or "podman"
PEER_DOCKER_HOST = "unix:///run/peer-docker.sock"
PYTHON = "/usr/bin/python3"
# inside busybox: Debian's python3 from the host's /usr, started through its ELF loader
IN_PYTHON = ["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/bin/python3.11"]
MOUNTS = ["-v", "/usr:/usr:ro"]
SECTIONS = ("overhead", "steps", "c2c", "published")
PORT = 5001

RECEIVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
buf = bytearray(1 << 20)
while True:
    c, _ = s.accept()
    while c.recv_into(buf):
        pass
    c.sendall(b"k"); c.close()
"""

SENDER = """
import socket, sys, time
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
chunk = bytes(1 << 20)
t0 = time.perf_counter()
s = socket.create_connection((host, port))
left = size
while left > 0:
    s.sendall(chunk if left >= len(chunk) else chunk[:left]); left -= len(chunk)
s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
print(time.perf_counter() - t0)
"""


# ---------------------------------------------------------------- pure helpers


def mib_per_s(size: int, seconds: Sequence[float]) -> list[float]:
    return [size / (1 << 20) / s for s in seconds if s > 0]


def added_ms(bridge: Sequence[float], none: Sequence[float]) -> float | None:
    """What the bridge adds: median(bridge) - median(none), in ms."""
    if not bridge or not none:
        return None
    return (median(bridge) - median(none)) * 1000


def rotate(items: list[str], round_no: int) -> list[str]:
    k = round_no % len(items) if items else 0
    return items[k:] + items[:k]


def fmt_rate(values: Sequence[float]) -> str:
    if not values:
        return "—"
    return f"{median(values):.0f} MiB/s ({min(values):.0f}-{max(values):.0f})"


# ---------------------------------------------------------------- engines


def _cli(engine: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    if engine == "wharfie":
        return [WHARFIE], env
    if engine == "docker":
        return [DOCKER], {**env, "DOCKER_HOST": PEER_DOCKER_HOST}
    return [PODMAN], env


def _available(engine: str, env: dict[str, str]) -> str:
    """ "" if the engine answers with a busybox image, else why not."""
    argv, e = _cli(engine, env)
    try:
        p = subprocess.run(
            [*argv, "image", "inspect", "busybox"], env=e, capture_output=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return "" if p.returncode == 0 else p.stderr.decode(errors="replace").strip()[:200]


def _timed(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, capture_output=True, timeout=120)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {p.stderr.decode(errors='replace')[-300:]}")
    return dt


def overhead(engines: list[str], env: dict[str, str], rounds: int) -> dict[str, object]:
    samples: dict[str, list[float]] = {}
    variants = [f"{e}/{n}" for e in engines for n in ("bridge", "none")]
    for v in variants:  # warm-up
        _run_true(v, env)
    for r in range(rounds):
        for v in rotate(variants, r):
            samples.setdefault(v, []).append(_run_true(v, env))
    out: dict[str, object] = {"samples": samples}
    for e in engines:
        out[e] = added_ms(samples[f"{e}/bridge"], samples[f"{e}/none"])
    return out


def _run_true(variant: str, env: dict[str, str]) -> float:
    engine, net = variant.split("/")
    argv, e = _cli(engine, env)
    extra = ["--network", "none"] if net == "none" else []
    return _timed([*argv, "run", "--rm", *extra, "busybox", "true"], e)


def steps(rounds: int) -> dict[str, list[float]]:
    """In-process times (s) of what the default bridge adds to a start and a stop: the
    namespace bind mount, the veth pair with address and route, and the unmount; on a
    private bridge and subnet. Robust against the noise of whole-CLI timings."""
    sys.path.insert(0, str(ROOT / "src"))
    from wharfie import network

    tmp = Path(tempfile.mkdtemp(prefix="wbench-steps-"))
    br = network.Bridge("wbs" + os.urandom(3).hex(), "10.219.77.0/24", "", masquerade=False)
    out: dict[str, list[float]] = {"create_netns": [], "attach": [], "delete_netns": []}
    try:
        br.ensure()
        for i in range(rounds):
            cid = os.urandom(32).hex()
            ns = str(tmp / cid)
            t0 = time.perf_counter()
            network.create_netns(ns)
            t1 = time.perf_counter()
            br.attach(cid, ns, f"10.219.77.{10 + i % 200}")
            t2 = time.perf_counter()
            network.delete_netns(ns)
            t3 = time.perf_counter()
            out["create_netns"].append(t1 - t0)
            out["attach"].append(t2 - t1)
            out["delete_netns"].append(t3 - t2)
    finally:
        br.remove()
        br.close()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _receiver(engine: str, env: dict[str, str], name: str, args: list[str]) -> None:
    argv, e = _cli(engine, env)
    subprocess.run([*argv, "rm", "-f", name], env=e, capture_output=True)
    p = subprocess.run(
        [
            *argv,
            "run",
            "-d",
            "--name",
            name,
            *MOUNTS,
            *args,
            "busybox",
            *IN_PYTHON,
            "-c",
            RECEIVER,
            str(PORT),
        ],
        env=e,
        capture_output=True,
    )
    if p.returncode != 0:
        raise RuntimeError(f"receiver on {engine}: {p.stderr.decode(errors='replace')}")
    time.sleep(0.5)


def _host_send(host: str, port: int, size: int) -> float:
    p = subprocess.run(
        [PYTHON, "-c", SENDER, host, str(port), str(size)], capture_output=True, timeout=300
    )
    if p.returncode != 0:
        raise RuntimeError(f"sender to {host}:{port}: {p.stderr.decode(errors='replace')}")
    return float(p.stdout.decode().strip())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def c2c(variants: list[str], env: dict[str, str], rounds: int, size: int) -> dict[str, object]:
    """Loopback and each variant's user bridge, interleaved round by round; a variant is an
    engine, or `engine:MTU` for a network made with that MTU."""
    tag = os.urandom(3).hex()
    port = _free_port()
    host_rx = subprocess.Popen([PYTHON, "-c", RECEIVER, str(port)])
    ready: list[str] = []
    try:
        for v in variants:
            engine, _, mtu = v.partition(":")
            argv, ee = _cli(engine, env)
            net = _c2c_net(v, tag)
            opts = ["-o", f"com.docker.network.driver.mtu={mtu}"] if mtu else []
            subprocess.run(
                [*argv, "network", "create", *opts, net], env=ee, check=True, capture_output=True
            )
            ready.append(v)
            _receiver(engine, env, net + "rx", ["--network", net])
        time.sleep(0.3)
        samples: dict[str, list[float]] = {"loopback": [], **{v: [] for v in variants}}
        for r in range(rounds):
            for what in rotate(["loopback", *variants], r):
                samples[what].append(
                    _host_send("127.0.0.1", port, size)
                    if what == "loopback"
                    else _c2c_send(what, env, _c2c_net(what, tag), size)
                )
    finally:
        host_rx.kill()
        host_rx.wait()
        for v in ready:
            argv, ee = _cli(v.partition(":")[0], env)
            net = _c2c_net(v, tag)
            subprocess.run([*argv, "rm", "-f", net + "rx"], env=ee, capture_output=True)
            subprocess.run([*argv, "network", "rm", net], env=ee, capture_output=True)
    out: dict[str, object] = {k: mib_per_s(size, v) for k, v in samples.items()}
    lo = median(mib_per_s(size, samples["loopback"]))
    for v in variants:
        out[v + "_ratio"] = median(mib_per_s(size, samples[v])) / lo
    return out


def _c2c_net(variant: str, tag: str) -> str:
    engine, _, mtu = variant.partition(":")
    return f"wbench{tag}{engine[0]}{mtu}"


def _c2c_send(variant: str, env: dict[str, str], net: str, size: int) -> float:
    argv, e = _cli(variant.partition(":")[0], env)
    send = [
        *argv,
        "run",
        "--rm",
        "--network",
        net,
        *MOUNTS,
        "busybox",
        *IN_PYTHON,
        "-c",
        SENDER,
        net + "rx",
        str(PORT),
        str(size),
    ]
    p = subprocess.run(send, env=e, capture_output=True, timeout=300)
    if p.returncode != 0:
        raise RuntimeError(f"c2c sender on {variant}: {p.stderr.decode(errors='replace')}")
    return float(p.stdout.decode().strip())


def published(engines: list[str], env: dict[str, str], rounds: int, size: int) -> dict[str, object]:
    ports = {e: _free_port() for e in engines}
    names = {e: "wbenchpub" + os.urandom(3).hex() for e in engines}
    try:
        for e in engines:
            _receiver(e, env, names[e], ["-p", f"127.0.0.1:{ports[e]}:{PORT}"])
        samples: dict[str, list[float]] = {e: [] for e in engines}
        for r in range(rounds):
            for e in rotate(engines, r):
                samples[e].append(_host_send("127.0.0.1", ports[e], size))
    finally:
        for e in engines:
            argv, ee = _cli(e, env)
            subprocess.run([*argv, "rm", "-f", names[e]], env=ee, capture_output=True)
    out: dict[str, object] = {e: mib_per_s(size, s) for e, s in samples.items()}
    return out


# ---------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--mib", type=int, default=1024, help="bytes per transfer, in MiB")
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--json", default="")
    ap.add_argument(
        "--mtu", type=int, default=0, help="c2c also on networks with this MTU (both engines)"
    )
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from support.daemon import Daemon, busybox_tar

    base = Path(tempfile.mkdtemp(prefix="wbench-net-"))
    d = Daemon(base / "d", 5)
    d.start()
    report: dict[str, object] = {}
    try:
        p = subprocess.run(
            [WHARFIE, "import", "-c", 'CMD ["sh"]', "-", "busybox:latest"],
            input=busybox_tar(base),
            env=d.env,
            capture_output=True,
        )
        if p.returncode != 0:
            raise RuntimeError(p.stderr.decode())
        env = d.env
        peers = [e for e in ("docker", "podman") if not _note(e, _available(e, env))]
        size = args.mib << 20
        only = args.only.split(",")
        if "overhead" in only:
            report["overhead"] = overhead(["wharfie", *peers], env, args.rounds)
            for e in ["wharfie", *peers]:
                v = report["overhead"][e]  # type: ignore[index]
                print(f"overhead  {e:8} bridge adds {v:.1f} ms over --network none")
        if "steps" in only:
            report["steps"] = st = steps(max(args.rounds, 20))
            parts = "  ".join(f"{k} {median(v) * 1000:.2f} ms" for k, v in st.items())
            print(f"steps     {parts}")
        if "c2c" in only:
            ce = [e for e in ("wharfie", "docker") if e == "wharfie" or e in peers]
            ce += [f"{e}:{args.mtu}" for e in ce] if args.mtu else []
            report["c2c"] = res = c2c(ce, env, max(args.rounds // 3, 2), size)
            print(f"c2c       loopback {fmt_rate(res['loopback'])}")  # type: ignore[arg-type]
            for e in ce:
                print(
                    f"c2c       {e:13} {fmt_rate(res[e])}  "  # type: ignore[arg-type]
                    f"{res[e + '_ratio']:.2f}x loopback"
                )
        if "published" in only:
            pub = [e for e in ("wharfie", "docker") if e == "wharfie" or e in peers]
            report["published"] = res = published(pub, env, max(args.rounds // 3, 2), size)
            for e in pub:
                print(f"published {e:8} {fmt_rate(res[e])}")  # type: ignore[arg-type]
    finally:
        d.teardown()
        shutil.rmtree(base, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def _note(engine: str, why: str) -> str:
    if why:
        print(f"note: {engine} skipped: {why}", file=sys.stderr)
    return why


if __name__ == "__main__":
    sys.exit(main())
