#!/usr/bin/env python3
"""Cluster networking (issue 17): overlay throughput, VIP and mesh latency, endpoint churn.

Each round builds a fresh 2-node topology (tests/support/cluster.py through bench/cluster.py's
Engine: one wharfied per network namespace, joined by a hub bridge), a manager and a worker,
an attachable overlay `ov`, and measures:

- tput: container-to-container TCP throughput, a container on the manager sending to one on
  the worker over `ov`, against the same pair with `--network host` (the underlay between the
  two node namespaces, no overlay); for Docker 20.10 the same two transfers in its own
  topology (bench/cluster.py's DockerNode) when its overlay works here;
- vip: TCP connect latency from a container on the manager to a 1-replica service on the
  worker, through its VIP against directly to the task's address (interleaved, p50);
- up: a service scaled 0 -> 1 (its VIP already resolving): from the task container's
  StartedAt to the first connection through the VIP, and to `tasks.<service>` naming it;
- mesh: HTTP request latency (connect to answer) from a third namespace to a published port
  (ingress mode, the only task on the worker), through the manager (no task) against through
  the worker (p50);
- down (last, it breaks the topology): the worker's wharfied SIGKILLed and its link taken
  down; the time until the manager reports the node down (node-down detection), until the
  client container's VIP table stops naming the worker's task, and until `tasks.<service>`
  stops naming it.

The throughput and latency clients are small Python programs: Debian's python3 bind-mounted
read-only with /usr into the busybox container and started through its ELF loader (as
bench/network.py does; busybox nc cannot move bulk data), the mesh client the host's python3
inside the third namespace. Servers are busybox httpd.

  bench/overlay.py [--rounds N] [--mib N] [--only tput,vip,up,mesh,down] [--no-docker]
                   [--json FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchlib import median

ROOT = Path(__file__).resolve().parents[1]


def _bench_cluster() -> Any:
    """bench/cluster.py (its Engine, topology included), loaded by path: the name `cluster`
    is also the package tests/cluster when the unit tests import this module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_cluster", ROOT / "bench" / "cluster.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_cluster = _bench_cluster()
Engine, until = _cluster.Engine, _cluster.until
SECTIONS = ("tput", "vip", "up", "mesh", "down")
IN_PYTHON = ["/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "/usr/bin/python3.11"]
MOUNTS = ["-v", "/usr:/usr:ro"]
SERVE = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"
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

# connect latency to each target, alternating; prints each target's median in ms
CONNECTS = """
import socket, statistics, sys, time
targets, port, n = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
got = {t: [] for t in targets}
for i in range(n):
    for t in (targets if i % 2 == 0 else targets[::-1]):
        t0 = time.perf_counter()
        s = socket.create_connection((t, port), timeout=2)
        got[t].append(time.perf_counter() - t0)
        s.close()
        time.sleep(0.002)
print(" ".join(f"{statistics.median(got[t]) * 1000:.4f}" for t in targets))
"""

# HTTP/1.0 GET latency (connect to end of answer) to each address, alternating
REQUESTS = """
import socket, statistics, sys, time
targets, port, n = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
got = {t: [] for t in targets}
for i in range(n):
    for t in (targets if i % 2 == 0 else targets[::-1]):
        t0 = time.perf_counter()
        s = socket.create_connection((t, port), timeout=2)
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        while s.recv(4096):
            pass
        got[t].append(time.perf_counter() - t0)
        s.close()
        time.sleep(0.002)
print(" ".join(f"{statistics.median(got[t]) * 1000:.4f}" for t in targets))
"""

# wall times at which <name> first answers a connection (through its VIP) and tasks.<name>
# first names a task; or (argv[2] = an address) at which tasks.<name> stops naming it
WATCH = """
import socket, sys, time
name, gone, limit = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
def tasks():
    try:
        return socket.gethostbyname_ex("tasks." + name)[2]
    except OSError:
        return []
vip_at = dns_at = None
while time.time() < limit:
    if gone:
        if gone not in tasks():
            print(time.time()); sys.exit(0)
    else:
        if vip_at is None:
            try:
                socket.create_connection((name, 80), timeout=0.2).close(); vip_at = time.time()
            except OSError:
                pass
        if dns_at is None and tasks():
            dns_at = time.time()
        if vip_at and dns_at:
            print(vip_at, dns_at); sys.exit(0)
    time.sleep(0.005)
sys.exit(1)
"""


def started_at(stamp: str) -> float:
    """Docker's RFC 3339 nanosecond time as a Unix time (microseconds kept)."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    base = datetime.datetime.fromisoformat(head).replace(tzinfo=datetime.UTC)
    return base.timestamp() + (float("0." + frac[:6]) if frac else 0.0)


class Round:
    """One engine's 2-node cluster with an attachable overlay."""

    def __init__(self, name: str, base: Path, image: bytes) -> None:
        self.e = Engine(name, base, image)
        self.m = self.e.cluster(1, 1)
        self.w = self.e.nodes[1]
        self.cli(self.m, "network", "create", "-d", "overlay", "--attachable", "ov")

    def cli(self, node: Any, *args: str) -> str:
        return self.e.cli(node, *args)

    def run(self, node: Any, name: str, *args: str) -> str:
        return self.cli(node, "run", "-d", "--name", name, *args).strip()

    def py(self, node: Any, container: str, script: str, *args: str) -> str:
        return self.cli(node, "exec", container, *IN_PYTHON, "-c", script, *args).strip()

    def ip(self, node: Any, container: str, net: str = "ov") -> str:
        fmt = f"{{{{(index .NetworkSettings.Networks {json.dumps(net)}).IPAddress}}}}"
        return self.cli(node, "inspect", container, "--format", fmt).strip()

    def close(self) -> None:
        self.e.close()


def tput(r: Round, size: int) -> dict[str, float]:
    """MiB/s over the overlay and over the underlay (host networking), interleaved."""
    rx = [*MOUNTS, "busybox", *IN_PYTHON, "-c", RECEIVER, str(PORT)]
    r.run(r.w, "rx-ov", "--network", "ov", *rx)
    r.run(r.w, "rx-host", "--network", "host", *rx)
    r.run(r.m, "tx-ov", "--network", "ov", *MOUNTS, "busybox", "/bin/busybox", "sleep", "3600")
    r.run(r.m, "tx-host", "--network", "host", *MOUNTS, "busybox", "/bin/busybox", "sleep", "3600")
    targets = {"overlay": ("tx-ov", r.ip(r.w, "rx-ov")), "underlay": ("tx-host", r.w.addr)}
    out: dict[str, list[float]] = {k: [] for k in targets}
    time.sleep(0.5)
    for i in range(3):
        for what in ("overlay", "underlay") if i % 2 == 0 else ("underlay", "overlay"):
            tx, addr = targets[what]
            secs = float(r.py(r.m, tx, SENDER, addr, str(PORT), str(size)))
            out[what].append(size / (1 << 20) / secs)
    for c in ("rx-ov", "rx-host"):
        r.cli(r.w, "rm", "-f", c)
    for c in ("tx-ov", "tx-host"):
        r.cli(r.m, "rm", "-f", c)
    got = {k: median(v) for k, v in out.items()}
    # the ratio within the round: the load of the machine moves both sides alike
    got["ratio"] = got["overlay"] / got["underlay"]
    return got


def running(r: Round, service: str) -> int:
    out = r.cli(r.m, "service", "ps", service, "--filter", "desired-state=running",
                "--format", "{{.CurrentState}}")  # fmt: skip
    return sum(1 for line in out.splitlines() if line.startswith("Running"))


def service(r: Round, name: str, replicas: int, *extra: str) -> None:
    r.cli(r.m, "service", "create", "--detach", "--name", name, "--replicas", str(replicas),
          "--network", "ov", "--constraint", "node.role==worker", "--stop-grace-period", "1s",
          *extra, "busybox", "sh", "-c", SERVE)  # fmt: skip


def client(r: Round) -> str:
    r.run(r.m, "client", "--network", "ov", *MOUNTS, "busybox", "/bin/busybox", "sleep", "3600")
    return "client"


def vip_latency(r: Round) -> dict[str, float]:
    service(r, "lat", 1)
    until(lambda: running(r, "lat") == 1, 60)
    task = r.cli(r.w, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=lat").strip()
    direct = r.ip(r.w, task)
    vip = json.loads(r.cli(r.m, "service", "inspect", "lat", "--format", "{{json .Endpoint}}"))
    vip_addr = vip["VirtualIPs"][0]["Addr"].split("/")[0]
    # the VIP's table may lag the task's start by an agent round
    until(lambda: _connects(r, vip_addr), 30)
    via_vip, to_task = map(float, r.py(r.m, "client", CONNECTS, f"{vip_addr},{direct}", "80",
                                       "300").split())  # fmt: skip
    r.cli(r.m, "service", "rm", "lat")
    return {"vip_ms": via_vip, "direct_ms": to_task, "added_ms": via_vip - to_task}


def _connects(r: Round, addr: str) -> bool:
    try:
        r.py(r.m, "client", CONNECTS, addr, "80", "1")
    except RuntimeError:
        return False
    return True


def up(r: Round) -> dict[str, float]:
    service(r, "late", 0)
    # the name resolves (to the VIP) before any task: what is timed is the task's arrival
    until(lambda: _resolves(r, "late"), 30)
    watcher = subprocess.Popen(
        _exec_argv(r, r.m, "client", WATCH, "late", "", "60"), stdout=subprocess.PIPE
    )
    time.sleep(0.3)
    r.cli(r.m, "service", "scale", "--detach", "late=1")
    out, _ = watcher.communicate(timeout=90)
    if watcher.returncode != 0:
        raise RuntimeError("late: not reachable through its VIP and DNS within 60 s")
    vip_at, dns_at = map(float, out.decode().split())
    task = r.cli(r.w, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=late").strip()
    start = started_at(r.cli(r.w, "inspect", task, "--format", "{{.State.StartedAt}}").strip())
    r.cli(r.m, "service", "rm", "late")
    return {"vip_s": vip_at - start, "dns_s": dns_at - start}


def _resolves(r: Round, name: str) -> bool:
    try:
        p = r.cli(r.m, "exec", "client", "/bin/busybox", "nslookup", name, "127.0.0.11")
    except RuntimeError:
        return False
    return "Address" in p.split("Name:", 1)[-1]


def _exec_argv(r: Round, node: Any, container: str, script: str, *args: str) -> list[str]:
    """The docker CLI command line of an exec, for a process the bench does not wait on."""
    from support.daemon import DOCKER

    env = ["env", f"DOCKER_HOST={node.host}", f"DOCKER_CONFIG={node.base / 'docker-config'}"]
    return [*env, DOCKER, "exec", container, *IN_PYTHON, "-c", script, *args]


def mesh(r: Round) -> dict[str, float]:
    r.cli(r.m, "service", "create", "--detach", "--name", "pub", "--publish", "8080:80",
          "--constraint", "node.role==worker", "--stop-grace-period", "1s",
          "busybox", "sh", "-c", SERVE)  # fmt: skip
    until(lambda: running(r, "pub") == 1, 60)
    ns, _ = r.e.topo.add_namespace()
    argv = ["nsenter", f"--net=/run/netns/{ns}", "python3", "-c", REQUESTS]

    def answers() -> bool:
        return subprocess.run([*argv, r.m.addr, "8080", "1"], capture_output=True).returncode == 0

    until(answers, 30)
    p = subprocess.run(
        [*argv, f"{r.m.addr},{r.w.addr}", "8080", "300"], capture_output=True, check=True
    )
    other, own = map(float, p.stdout.split())
    r.cli(r.m, "service", "rm", "pub")
    return {"other_node_ms": other, "task_node_ms": own, "ratio": other / own}


def down(r: Round) -> dict[str, float]:
    # one task on each node
    r.cli(r.m, "service", "create", "--detach", "--name", "web", "--replicas", "2",
          "--replicas-max-per-node", "1", "--network", "ov", "--stop-grace-period", "1s",
          "busybox", "sh", "-c", SERVE)  # fmt: skip
    until(lambda: running(r, "web") == 2, 60)
    until(lambda: bool(r.cli(r.w, "ps", "-q").split()), 30)
    task = r.cli(r.w, "ps", "-q", "--filter", "label=com.docker.swarm.service.name=web").strip()
    gone = r.ip(r.w, task)
    pid = r.cli(r.m, "inspect", "client", "--format", "{{.State.Pid}}").strip()
    nft = ["nsenter", f"--net=/proc/{pid}/ns/net", "nft", "list", "table", "ip", "wharfie_vip"]

    def in_vip() -> bool:
        return gone in subprocess.run(nft, capture_output=True, text=True).stdout

    until(in_vip, 30)
    watcher = subprocess.Popen(
        _exec_argv(r, r.m, "client", WATCH, "web", gone, "60"), stdout=subprocess.PIPE
    )
    time.sleep(0.3)
    api = r.e.api(r.m)
    worker_id = next(n["ID"] for n in api.nodes() if n["Status"]["Addr"] == r.w.addr)
    t0 = time.time()
    r.e.kill(r.w)
    times: dict[str, float] = {}
    while len(times) < 2 and time.time() - t0 < 60:
        now = time.time() - t0
        if "vip_s" not in times and not in_vip():
            times["vip_s"] = now
        if "detect_s" not in times and api.inspect_node(worker_id)["Status"]["State"] == "down":
            times["detect_s"] = now
        time.sleep(0.02)
    out, _ = watcher.communicate(timeout=90)
    if watcher.returncode != 0 or len(times) < 2:
        raise RuntimeError(f"down: not all seen within 60 s: {times}")
    times["dns_s"] = float(out.decode()) - t0
    return times


def docker_tput(base: Path, image: bytes, size: int) -> dict[str, float] | str:
    """Docker 20.10's overlay and underlay throughput on the same topology, or why not."""
    try:
        r = Round("docker", base, image)
    except RuntimeError as exc:
        return f"docker: {exc}"
    try:
        return tput(r, size)
    except (RuntimeError, subprocess.SubprocessError, ValueError) as exc:
        return f"docker overlay: {str(exc).strip()[:300]}"
    finally:
        r.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("overlay bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "tests"))
    from support.daemon import busybox_tar

    base = Path(tempfile.mkdtemp(prefix="wbench-overlay-"))
    try:
        return run(args, base, busybox_tar(base))
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run(args: argparse.Namespace, base: Path, image: bytes) -> int:
    only = args.only.split(",")
    size = args.mib << 20
    results: dict[str, dict[str, list[float]]] = {}
    notes: list[str] = []
    loads: list[float] = []

    def keep(section: str, got: dict[str, float]) -> None:
        for k, v in got.items():
            results.setdefault(section, {}).setdefault(k, []).append(v)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in got.items())
        print(f"round {rnd} {section}: {shown} (load {os.getloadavg()[0]:.1f})", flush=True)

    for rnd in range(args.rounds):
        r = Round("wharfie", base / f"w{rnd}", image)
        try:
            if any(s in only for s in ("vip", "up", "down")):
                client(r)
            if "tput" in only:
                keep("tput", tput(r, size))
            if "vip" in only:
                keep("vip", vip_latency(r))
            if "up" in only:
                keep("up", up(r))
            if "mesh" in only:
                keep("mesh", mesh(r))
            if "down" in only:
                keep("down", down(r))
        finally:
            loads.append(os.getloadavg()[0])
            r.close()
        if "tput" in only and not args.no_docker:
            got = docker_tput(base / f"d{rnd}", image, size)
            if isinstance(got, str):
                print(f"round {rnd} docker tput: not run: {got}", flush=True)
                notes.append(got)
            else:
                keep("docker_tput", got)
    print(f"\n{'measurement':<34}{'median':>10}   rounds")
    for section, by in results.items():
        for k, v in by.items():
            shown = " ".join(f"{x:.3f}" for x in v)
            print(f"{section + ' ' + k:<34}{median(v):>10.3f}   {shown}")
    for n in sorted(set(notes)):
        print(f"note: {n}")
    print(f"load average over the rounds: {' '.join(f'{x:.1f}' for x in loads)}")
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "notes": notes}, indent=2))
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    sys.exit(main())
