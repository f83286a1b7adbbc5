#!/usr/bin/env python3
"""Swarm control plane, side by side with Docker's swarm on the same network-namespace topology.

Each engine gets its own set of nodes (one network namespace per node, joined by a hub bridge:
tests/support/cluster.py for wharfied; the same topology with one dockerd per namespace for
Docker). Busybox tasks that exit on SIGTERM, `--endpoint-mode dnsrr`, no published ports (this
kernel has no IPVS). Measured by polling the API every 50 ms:

- converge1 / converge3: `service create --detach --replicas 10` until 10 tasks run (1 node;
  1 manager + 2 workers);
- update: a rolling update of those 10 tasks (parallelism 2, monitor 1 s) until UpdateStatus
  says completed;
- worker_lost: a worker's daemon killed (SIGKILL) and its namespace's link taken down, until 10
  tasks run again on the others;
- leader_lost: with 3 managers, the leader's daemon (and, for wharfie, its etcd member) killed
  and its link down, until another manager accepts a `service scale`;
- converge100: `--replicas 100` on 1 manager + 2 workers until 100 run; besides the time, the
  peak RSS (VmHWM) of every control-plane process (wharfie: wharfied, etcd, the container
  monitor; Docker: dockerd, containerd), and for wharfie the etcd writes the convergence took
  (write transactions = store revisions, keys put, per converged task, from the member's
  /metrics) and the keys each kind of object holds in the store.

Both engines keep their default heartbeats: Docker's dispatcher 5 s; wharfie's leases 5 s
renewed every second (docs/cluster.md).

  bench/cluster.py [--rounds N] [--only converge1,update,...] [--json FILE]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchlib import median

ROOT = Path(__file__).resolve().parents[1]
DOCKERD = "/usr/sbin/dockerd"
DOCKER = shutil.which("docker") or "/usr/local/bin/docker"
SECTIONS = ("converge1", "converge3", "update", "worker_lost", "leader_lost", "converge100")
MIB = 1024 * 1024
TASK = ["sh", "-c", "trap 'exit 0' TERM; while sleep 1; do :; done"]


class DockerNode:
    """A dockerd of its own inside one node namespace of a topology."""

    def __init__(self, base: Path, netns: str, addr: str) -> None:
        self.base, self.netns, self.addr = base, netns, addr
        self.sock = base / "d.sock"
        self.host = f"unix://{self.sock}"
        self.exec_root = Path("/run") / f"wbench-{netns}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, image_tar: bytes | None) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        args = [
            "nsenter", f"--net=/run/netns/{self.netns}", DOCKERD, "-H", self.host,
            "--data-root", str(self.base / "data"), "--exec-root", str(self.exec_root),
            "--pidfile", str(self.base / "d.pid"), "--iptables=false", "--ip6tables=false",
            "--bridge=none", "--storage-driver", "overlay2",
        ]  # fmt: skip
        with open(self.base / "d.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + 60
        while self.cli("version").returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd in {self.netns} did not start")
            time.sleep(0.2)
        if image_tar is None:
            return
        p = self.cli("import", "-c", 'CMD ["sh"]', "-", "busybox:latest", input=image_tar)
        if p.returncode != 0:
            raise RuntimeError(p.stderr.decode())

    def cli(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [DOCKER, "-H", self.host, *args], input=input, capture_output=True, timeout=120
        )

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None

    def stop(self) -> None:
        if self.proc is None and (self.base / "data").exists():
            # killed by the scenario: its containerd and shims live on; bring dockerd back
            # (its link up again) so that it stops them
            subprocess.run(["ip", "-n", self.netns, "link", "set", "eth0", "up"], check=False)
            try:
                self.start(None)
            except RuntimeError as exc:
                print(f"restarting dockerd in {self.netns}: {exc}", file=sys.stderr)
        if self.proc is not None:
            self.cli("swarm", "leave", "--force")
            ids = self.cli("ps", "-aq").stdout.split()
            if ids:
                self.cli("rm", "-f", *[i.decode() for i in ids])
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        subprocess.run(["umount", "-R", "-l", str(self.base / "data")], capture_output=True)
        # a killed dockerd leaves its sandboxes' namespace mounts under the exec root
        with open("/proc/self/mounts") as f:
            points = [line.split()[1] for line in f]
        for point in sorted(points, reverse=True):
            if point.startswith(f"{self.exec_root}/"):
                subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(self.exec_root, ignore_errors=True)


class Engine:
    """One engine's cluster in its own topology: add nodes, run the CLI, read the API."""

    def __init__(self, name: str, base: Path, image_tar: bytes) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from support.cluster import topology

        self.name = name
        self.topo = topology(base / name)
        self.image = image_tar
        self.nodes: list[Any] = []
        self.docker: list[DockerNode] = []

    def add(self) -> Any:
        if self.name == "wharfie":
            node = self.topo.add_node(busybox=True)
        else:
            ns_node = self.topo.add_namespace()  # a namespace without a wharfied
            node = DockerNode(self.topo.base / f"dnode{len(self.nodes)}", *ns_node)
            node.start(self.image)
            self.docker.append(node)
        self.nodes.append(node)
        return node

    def cli(self, node: Any, *args: str) -> str:
        if isinstance(node, DockerNode):
            p = node.cli(*args)
        else:
            from support.daemon import docker_cli

            p = docker_cli(node, *args, timeout=120)
        if p.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: {p.stderr.decode()}")
        return p.stdout.decode()

    def api(self, node: Any) -> Any:
        import docker

        return docker.APIClient(base_url=node.host, version="1.41", timeout=30)

    def cluster(self, managers: int, workers: int) -> Any:
        first = self.add()
        self.cli(first, "swarm", "init", "--advertise-addr", first.addr)
        mtoken = self.cli(first, "swarm", "join-token", "-q", "manager").strip()
        wtoken = self.cli(first, "swarm", "join-token", "-q", "worker").strip()
        for role, count in (("manager", managers - 1), ("worker", workers)):
            for _ in range(count):
                n = self.add()
                token = mtoken if role == "manager" else wtoken
                self.cli(
                    n,
                    "swarm",
                    "join",
                    "--advertise-addr",
                    n.addr,
                    "--token",
                    token,
                    f"{first.addr}:2377",
                )
        return first

    def kill(self, node: Any) -> None:
        """SIGKILL the node's daemon (and a wharfie manager's etcd), and take its link down."""
        if isinstance(node, DockerNode):
            node.kill()
        else:
            for pid in node.etcd_pids():
                os.kill(pid, signal.SIGKILL)
            node.stop(signal.SIGKILL)
        subprocess.run(["ip", "-n", node.netns, "link", "set", "eth0", "down"], check=True)

    def close(self) -> None:
        for n in self.docker:
            n.stop()
        self.topo.close()


def peak_rss(pid: int) -> int:
    """A process's peak resident set (VmHWM), bytes; 0 if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


def control_plane(e: Engine) -> dict[str, int]:
    """Every control-plane process of the engine's nodes: name -> pid."""
    out: dict[str, int] = {}
    for i, n in enumerate(e.nodes):
        if isinstance(n, DockerNode):
            if n.proc is not None:
                out[f"dockerd{i}"] = n.proc.pid
                for c in children(n.proc.pid):
                    if b"containerd" in Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")[0]:
                        out[f"containerd{i}"] = c
            continue
        from support.monitor_pids import warden_pid, worker_pid

        if n.proc is not None:
            out[f"wharfied{i}"] = n.proc.pid
        for pid in n.etcd_pids():
            out[f"etcd{i}"] = pid
        for name, pid in (
            ("warden", warden_pid(n.exec_root)),
            ("monitor", worker_pid(n.exec_root)),
        ):
            if pid:
                out[f"{name}{i}"] = pid
    return out


def etcd_get(node: Any, path: str, body: dict[str, Any] | None = None) -> bytes:
    """A call to a wharfie manager's etcd member, from inside its namespace, with its store
    certificate."""
    certs = node.data / "swarm" / "certificates"
    args = [
        "nsenter", f"--net=/run/netns/{node.netns}", "curl", "-sf", "--max-time", "10",
        "--cacert", str(certs / "store-ca.crt"), "--cert", str(certs / "store-node.crt"),
        "--key", str(certs / "store-node.key"), f"https://{node.addr}:2379{path}",
    ]  # fmt: skip
    if body is not None:
        args += ["-X", "POST", "-d", json.dumps(body)]
    return subprocess.run(args, capture_output=True, check=True, timeout=20).stdout


def etcd_counters(node: Any) -> dict[str, float]:
    """The member's write counters and the store revision."""
    out: dict[str, float] = {}
    for line in etcd_get(node, "/metrics").decode().splitlines():
        name, _, value = line.partition(" ")
        if name in ("etcd_mvcc_put_total", "etcd_mvcc_delete_total"):
            out[name] = float(value)
    header = json.loads(etcd_get(node, "/v3/kv/range", {"key": base64.b64encode(b"/").decode()}))
    out["revision"] = float(header["header"]["revision"])
    return out


def keys_per_object(node: Any) -> dict[str, float]:
    """The keys each kind of object holds in the store (its record, its name claim, its
    observed status or liveness), averaged over the objects of the kind."""
    prefix = b"/wharfie/swarm/"
    end = prefix[:-1] + bytes([prefix[-1] + 1])
    answer = json.loads(
        etcd_get(
            node,
            "/v3/kv/range",
            {
                "key": base64.b64encode(prefix).decode(),
                "range_end": base64.b64encode(end).decode(),
                "keys_only": True,
            },
        )
    )
    objects: dict[str, int] = {}
    extra: dict[str, int] = {}
    for kv in answer.get("kvs") or []:
        parts = base64.b64decode(kv["key"])[len(prefix) :].decode().split("/")
        if parts[0] == "objects":
            objects[parts[1]] = objects.get(parts[1], 0) + 1
        elif parts[0] == "names":
            extra[parts[1]] = extra.get(parts[1], 0) + 1
        elif parts[0] in ("status", "alive"):
            kind = "task" if parts[0] == "status" else "node"
            extra[kind] = extra.get(kind, 0) + 1
    return {k: round((n + extra.get(k, 0)) / n, 2) for k, n in sorted(objects.items())}


def running(api: Any, service: str, exclude_node: str = "") -> int:
    try:
        tasks = api.tasks(filters={"service": service, "desired-state": "running"})
    except Exception:  # a manager may refuse while it elects: not yet
        return 0
    return sum(
        1 for t in tasks if t["Status"]["State"] == "running" and t.get("NodeID") != exclude_node
    )


def until(check: Callable[[], bool], timeout: float) -> float:
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"not within {timeout}s")
        time.sleep(0.05)
    return time.monotonic() - start


def create(e: Engine, node: Any, name: str) -> float:
    start = time.monotonic()
    e.cli(node, "service", "create", "--detach", "--name", name, "--replicas", "10",
          "--endpoint-mode", "dnsrr", "--update-parallelism", "2", "--update-monitor", "1s",
          "busybox", *TASK)  # fmt: skip
    api = e.api(node)
    until(lambda: running(api, name) == 10, 180)
    return time.monotonic() - start


def converge100(e: Engine, extra: dict[str, Any]) -> float:
    m = e.cluster(1, 2)
    before = etcd_counters(m) if e.name == "wharfie" else {}
    start = time.monotonic()
    e.cli(m, "service", "create", "--detach", "--name", "c100", "--replicas", "100",
          "--endpoint-mode", "dnsrr", "busybox", *TASK)  # fmt: skip
    api = e.api(m)
    until(lambda: running(api, "c100") == 100, 600)
    took = time.monotonic() - start
    rss = {name: peak_rss(pid) for name, pid in control_plane(e).items()}
    extra["peak_rss_mib"] = {k: round(v / MIB, 1) for k, v in rss.items()}
    extra["max_rss_mib"] = round(max(rss.values()) / MIB, 1)
    if e.name == "wharfie":
        after = etcd_counters(m)
        extra["writes_per_task"] = round((after["revision"] - before["revision"]) / 100, 2)
        extra["puts_per_task"] = round(
            (after["etcd_mvcc_put_total"] - before["etcd_mvcc_put_total"]) / 100, 2
        )
        extra["keys_per_object"] = keys_per_object(m)
    return took


def scenario(e: Engine, section: str, extra: dict[str, Any]) -> float:
    if section == "converge100":
        return converge100(e, extra)
    if section == "converge1":
        return create(e, e.cluster(1, 0), "c1")
    if section == "converge3":
        return create(e, e.cluster(1, 2), "c3")
    if section == "update":
        m = e.cluster(1, 2)
        create(e, m, "up")
        api = e.api(m)
        start = time.monotonic()
        e.cli(m, "service", "update", "--detach", "--env-add", "V=2", "up")

        def done() -> bool:
            return (api.inspect_service("up").get("UpdateStatus") or {}).get("State") == "completed"

        until(done, 300)
        return time.monotonic() - start
    if section == "worker_lost":
        m = e.cluster(1, 2)
        create(e, m, "wl")
        victim = e.nodes[-1]
        victim_id = next(n["ID"] for n in e.api(m).nodes() if n["Status"]["Addr"] == victim.addr)
        api = e.api(m)
        start = time.monotonic()
        e.kill(victim)
        until(lambda: running(api, "wl", exclude_node=victim_id) == 10, 180)
        return time.monotonic() - start
    if section == "leader_lost":
        m = e.cluster(3, 0)
        create(e, m, "ll")
        start = time.monotonic()
        e.kill(m)
        other = e.nodes[1]

        def accepted() -> bool:
            try:
                e.cli(other, "service", "scale", "--detach", "ll=5")
            except RuntimeError:
                return False
            return True

        until(accepted, 180)
        return time.monotonic() - start
    raise ValueError(section)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", default=",".join(SECTIONS))
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("cluster bench: needs root (network namespaces)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "tests"))
    from support.daemon import busybox_tar

    base = Path(tempfile.mkdtemp(prefix="wbench-cluster-"))
    image = busybox_tar(base)
    results: dict[str, dict[str, list[float]]] = {}
    extras: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for section in args.only.split(","):
        for r in range(args.rounds):
            for name in ("wharfie", "docker") if r % 2 == 0 else ("docker", "wharfie"):
                e = Engine(name, base / f"{section}{r}", image)
                extra: dict[str, Any] = {}
                try:
                    took = scenario(e, section, extra)
                finally:
                    e.close()
                results.setdefault(section, {}).setdefault(name, []).append(took)
                print(f"{section} round {r} {name}: {took:.2f}s", flush=True)
                if extra:
                    extras.setdefault(section, {}).setdefault(name, []).append(extra)
                    print(f"  {json.dumps(extra)}", flush=True)
    print(f"\n{'scenario':<14}{'wharfie s':>11}{'docker s':>11}{'ratio':>8}")
    for section, by in results.items():
        w, d = median(by["wharfie"]), median(by["docker"])
        print(f"{section:<14}{w:>11.2f}{d:>11.2f}{w / d:>8.2f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"times": results, "extras": extras}, indent=2))
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
