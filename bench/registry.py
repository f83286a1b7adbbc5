"""Registry benchmarks: `wharfie registry serve` against Debian's docker-registry (issue 5).

Starts both registries itself on free loopback ports with fresh storage, and drives them with
the benchmark peer dockerd (unix:///run/peer-docker.sock; start it with
/work/shared/bench/peers/setup.sh) and a small threaded HTTP client. Rounds are interleaved,
the order rotating each round. See bench/README.md, section "Registry: bench/registry.py".

Run as root: ``.venv/bin/python bench/registry.py [--rounds N] [--conc-rounds N]
[--only push,pull,concurrent] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from benchlib import median, ratio, rotated

VENV_PY = sys.executable
DOCKER = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else "docker"
PEER_DOCKER_HOST = "unix:///run/peer-docker.sock"
REFERENCE = shutil.which("docker-registry") or "/usr/bin/docker-registry"
BIGCTX = Path("/var/lib/peer-bench/bigctx")
SECTIONS = ("push", "pull", "concurrent", "latency", "download")
SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"
LATENCY_REQUESTS = 2000
REGISTRIES = ("wharfie", "reference")
CONC_CLIENTS = 16
CONC_LAYER = 20 * 1024 * 1024
T = TypeVar("T")

# ---------------------------------------------------------------- pure helpers


def throughput_mbs(total_bytes: int, seconds: float) -> float:
    """MB/s (10^6 bytes per second)."""
    if seconds <= 0:
        raise ValueError("non-positive duration")
    return total_bytes / seconds / 1e6


def fmt_value(values: Sequence[float], unit: str) -> str:
    if not values:
        return "—"
    m, lo, hi = median(values), min(values), max(values)
    if unit == "s":
        return f"{m:.2f} s ({lo:.2f}-{hi:.2f})"
    return f"{m:.0f} {unit} ({lo:.0f}-{hi:.0f})"


@dataclass
class Row:
    name: str
    unit: str  # "s" or "us" (lower is better) or "MB/s" (higher is better)
    target: float | None  # wharfie/reference must be <= (s, us) or >= (MB/s) this; None: none
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, registry: str, value: float) -> None:
        self.samples.setdefault(registry, []).append(value)

    def ratio(self) -> float | None:
        return ratio(self.samples.get("wharfie", []), self.samples.get("reference", []))

    @property
    def lower_is_better(self) -> bool:
        return self.unit != "MB/s"

    def met(self) -> str:
        r = self.ratio()
        if self.target is None:
            return ""
        if r is None:
            return "n/a"
        ok = r <= self.target if self.lower_is_better else r >= self.target
        return "yes" if ok else "NO"

    def cells(self) -> list[str]:
        r = self.ratio()
        op = "<=" if self.lower_is_better else ">="
        target = "—" if self.target is None else f"{op} {self.target:g}x"
        return [
            self.name,
            fmt_value(self.samples.get("wharfie", []), self.unit),
            fmt_value(self.samples.get("reference", []), self.unit),
            "—" if r is None else f"{r:.2f}x",
            target,
            self.met(),
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "unit": self.unit,
            "samples": self.samples,
            "median": {k: median(v) for k, v in self.samples.items() if v},
            "ratio": self.ratio(),
            "target": self.target,
            "met": self.met(),
        }


HEADER = [
    "measurement",
    "wharfie registry",
    "docker-registry (reference)",
    "ratio",
    "target",
    "met?",
]


def table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3, help="rounds of docker push and pull")
    p.add_argument(
        "--conc-rounds",
        type=int,
        default=9,
        help="rounds of the 16 concurrent pulls and of the latency rows",
    )
    p.add_argument(
        "--only", default=",".join(SECTIONS), help=f"comma list of sections: {','.join(SECTIONS)}"
    )
    p.add_argument("--json", metavar="FILE", help="write every sample as JSON")
    args = p.parse_args(argv)
    args.only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in args.only if s not in SECTIONS]
    if bad:
        p.error(f"unknown section(s) {bad}; choose from {list(SECTIONS)}")
    if min(args.rounds, args.conc_rounds) < 1:
        p.error("--rounds and --conc-rounds must be at least 1")
    return args


# ---------------------------------------------------------------- registries


def log(msg: str) -> None:
    print(f"[registry] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """One registry process on a fixed port; `wipe()` restarts it on empty storage."""

    def __init__(self, kind: str, base: Path) -> None:
        self.kind = kind
        self.base = base / kind
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        storage = self.base / "storage"
        if self.kind == "wharfie":
            return [
                VENV_PY,
                "-m",
                "wharfie.cli",
                "registry",
                "serve",
                "--addr",
                self.addr,
                "--root",
                str(storage),
                "--access-log",
                "off",
            ]
        config = self.base / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n"
            f"    enabled: true\nhttp:\n  addr: {self.addr}\n"
        )
        return [REFERENCE, "serve", str(config)]

    def start(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        with open(self.base / "log", "ab") as out:
            self.proc = subprocess.Popen(
                self.argv(),
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.kind} registry exited: {(self.base / 'log').read_text()[-1500:]}"
                )
            try:
                urllib.request.urlopen(f"http://{self.addr}/v2/", timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{self.kind} registry did not answer")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def wipe(self) -> None:
        self.stop()
        shutil.rmtree(self.base / "storage", ignore_errors=True)
        self.start()


# ---------------------------------------------------------------- docker


def docker(*args: str, check: bool = True, timeout: float = 600, want: str | None = None) -> float:
    """Wall time of one docker CLI run on the peer dockerd; `want` must be in its output."""
    env = {**os.environ, "DOCKER_HOST": PEER_DOCKER_HOST}
    t0 = time.perf_counter()
    p = subprocess.run(
        [DOCKER, *args], env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
    )
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise RuntimeError(
            f"docker {' '.join(args)} exited {p.returncode}: "
            f"{p.stderr.decode(errors='replace')[-1500:]}"
        )
    if want is not None and want not in p.stdout.decode(errors="replace"):
        raise RuntimeError(
            f"docker {' '.join(args)}: no {want!r} in its output (another "
            f"local image shares the layer?): {p.stdout.decode()[-800:]}"
        )
    return dt


def image_ref(reg: Registry) -> str:
    return f"{reg.addr}/bench/big:latest"


def drop_big_image(regs: Sequence[Registry]) -> None:
    """Remove every tag of the big image, so its 200 MiB layer really goes."""
    for ref in ["wharfie-bench/big:latest", *[image_ref(r) for r in regs]]:
        docker("rmi", ref, check=False)


# ---------------------------------------------------------------- concurrent pulls


def _blob_post(addr: str, repo: str, data: bytes) -> str:
    """POST a session, PUT the whole blob (the form every registry takes)."""
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    conn = http.client.HTTPConnection(addr, timeout=120)
    conn.request("POST", f"/v2/{repo}/blobs/uploads/")
    resp = conn.getresponse()
    resp.read()
    loc = (resp.getheader("Location") or "").split(addr, 1)[-1]
    sep = "&" if "?" in loc else "?"
    conn.request(
        "PUT",
        f"{loc}{sep}digest={digest}",
        body=data,
        headers={"Content-Type": "application/octet-stream"},
    )
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 201:
        raise RuntimeError(f"blob upload to {addr} answered {resp.status}")
    return digest


def push_conc_image(addr: str, layer: bytes, repo: str = "bench/conc") -> None:
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    cfg = _blob_post(addr, repo, config)
    lay = _blob_post(addr, repo, layer)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": cfg,
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": lay,
                    "size": len(layer),
                }
            ],
        }
    ).encode()
    conn = http.client.HTTPConnection(addr, timeout=60)
    conn.request(
        "PUT",
        f"/v2/{repo}/manifests/latest",
        body=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
    )
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 201:
        raise RuntimeError(f"manifest push to {addr} answered {resp.status}")


def pull_image(addr: str, verify: bool = False) -> int:
    """GET manifest, config and layers as an image pull does; returns the bytes received."""
    conn = http.client.HTTPConnection(addr, timeout=120)
    accept = "application/vnd.oci.image.manifest.v1+json"
    conn.request("GET", "/v2/bench/conc/manifests/latest", headers={"Accept": accept})
    resp = conn.getresponse()
    manifest = json.loads(resp.read())
    total = 0
    buf = memoryview(bytearray(1 << 20))
    for desc in [manifest["config"], *manifest["layers"]]:
        conn.request("GET", f"/v2/bench/conc/blobs/{desc['digest']}")
        resp = conn.getresponse()
        h = hashlib.sha256() if verify else None
        got = 0
        while n := resp.readinto(buf):
            got += n
            if h is not None:
                h.update(buf[:n])
        if got != desc["size"] or (h is not None and "sha256:" + h.hexdigest() != desc["digest"]):
            raise RuntimeError(f"{addr}: blob {desc['digest']} came back wrong")
        total += got
    conn.close()
    return total


def concurrent_pulls(addr: str, clients: int) -> tuple[int, float]:
    results: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            n = pull_image(addr)
        except BaseException as exc:  # reported after the join
            errors.append(exc)
            return
        with lock:
            results.append(n)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"concurrent pull from {addr} failed: {errors[0]}")
    return sum(results), dt


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace, base: Path) -> None:
        self.args = args
        self.regs = [Registry(kind, base) for kind in REGISTRIES]
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def push_pull(self) -> None:
        if not BIGCTX.joinpath("big.bin").exists():
            raise RuntimeError(f"{BIGCTX}/big.bin missing: run /work/shared/bench/peers/setup.sh")
        drop_big_image(self.regs)
        env = {**os.environ, "DOCKER_HOST": PEER_DOCKER_HOST, "DOCKER_BUILDKIT": "0"}
        subprocess.run(
            [DOCKER, "build", "-q", "-t", "wharfie-bench/big:latest", str(BIGCTX)],
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
        for reg in self.regs:
            docker("tag", "wharfie-bench/big:latest", image_ref(reg))
        docker("rmi", "wharfie-bench/big:latest")
        push = Row("docker push, 200 MiB layer (empty registry)", "s", 1.0)
        pull = Row("docker pull, 200 MiB layer (after rmi)", "s", 1.0)
        for rnd in range(self.args.rounds):
            for reg in rotated(self.regs, rnd):
                if "push" in self.args.only:
                    reg.wipe()
                    os.sync()  # no writeback of the previous round inside this one
                    push.add(reg.kind, docker("push", image_ref(reg), want="Pushed"))
                    log(f"push {reg.kind}: {push.samples[reg.kind][-1]:.2f} s")
                elif rnd == 0:
                    docker("push", image_ref(reg))
            if "pull" in self.args.only:
                for reg in rotated(self.regs, rnd):
                    drop_big_image(self.regs)
                    os.sync()
                    pull.add(reg.kind, docker("pull", image_ref(reg), want="Pull complete"))
                    log(f"pull {reg.kind}: {pull.samples[reg.kind][-1]:.2f} s")
                    for other in self.regs:
                        docker("tag", image_ref(reg), image_ref(other))
        self.rows += [r for r in (push, pull) if r.samples]
        drop_big_image(self.regs)

    def concurrent(self) -> None:
        layer = gzip.compress(os.urandom(CONC_LAYER), compresslevel=1)
        for reg in self.regs:
            push_conc_image(reg.addr, layer)
            pull_image(reg.addr, verify=True)
        row = Row(f"{CONC_CLIENTS} concurrent pulls of a 20 MiB image (throughput)", "MB/s", 1.0)
        for rnd in range(self.args.conc_rounds):
            for reg in rotated(self.regs, rnd):
                total, dt = concurrent_pulls(reg.addr, CONC_CLIENTS)
                row.add(reg.kind, throughput_mbs(total, dt))
                log(f"concurrent {reg.kind}: {row.samples[reg.kind][-1]:.0f} MB/s ({dt:.2f} s)")
        self.rows.append(row)

    def download(self) -> None:
        """skopeo copy docker:// -> dir: of the 200 MiB blob: the registry's serving alone,
        with a Go client and no docker extraction in the way (no target)."""
        layer = (BIGCTX / "big.bin").read_bytes()
        for reg in self.regs:
            push_conc_image(reg.addr, layer, "bench/dl")
        row = Row("skopeo copy docker:// -> dir:, 200 MiB blob (download only)", "s", None)
        out = Path(tempfile.mkdtemp(prefix="wharfie-registry-dl-"))
        try:
            for rnd in range(self.args.rounds):
                for reg in rotated(self.regs, rnd):
                    shutil.rmtree(out / "img", ignore_errors=True)
                    os.sync()
                    t0 = time.perf_counter()
                    subprocess.run(
                        [
                            SKOPEO,
                            "copy",
                            "-q",
                            "--src-tls-verify=false",
                            f"docker://{reg.addr}/bench/dl:latest",
                            f"dir:{out / 'img'}",
                        ],
                        check=True,
                        capture_output=True,
                        timeout=300,
                    )
                    row.add(reg.kind, time.perf_counter() - t0)
        finally:
            shutil.rmtree(out, ignore_errors=True)
        self.rows.append(row)

    def latency(self) -> None:
        """Small requests one after another on one keep-alive connection (no target)."""
        for reg in self.regs:
            push_conc_image(reg.addr, b"tiny layer")
        rows = {
            m: Row(
                f"manifest {m}, {LATENCY_REQUESTS} in a row on one connection (per request)",
                "us",
                None,
            )
            for m in ("HEAD", "GET")
        }
        for rnd in range(self.args.conc_rounds):
            for reg in rotated(self.regs, rnd):
                for method, row in rows.items():
                    row.add(reg.kind, request_latency_us(reg.addr, method, LATENCY_REQUESTS))
        self.rows += rows.values()


def request_latency_us(addr: str, method: str, count: int) -> float:
    conn = http.client.HTTPConnection(addr, timeout=60)
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    t0 = time.perf_counter()
    for _ in range(count):
        conn.request(method, "/v2/bench/conc/manifests/latest", headers=accept)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{method} manifest on {addr} answered {resp.status}")
    dt = time.perf_counter() - t0
    conn.close()
    return dt / count * 1e6


def run(args: argparse.Namespace) -> int:
    base = Path(tempfile.mkdtemp(prefix="wharfie-registry-bench-"))
    bench = Bench(args, base)
    try:
        for reg in bench.regs:
            reg.start()
        if "push" in args.only or "pull" in args.only:
            bench.push_pull()
        if "concurrent" in args.only:
            bench.concurrent()
        if "latency" in args.only:
            bench.latency()
        if "download" in args.only:
            bench.download()
        print(
            f"Registry benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}; rounds={args.rounds}, "
            f"conc-rounds={args.conc_rounds}\n"
        )
        print(table(bench.rows))
        for note in bench.notes:
            print(f"\n- {note}")
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "args": vars(args),
                        "rows": [r.to_json() for r in bench.rows],
                        "notes": bench.notes,
                    },
                    indent=1,
                )
            )
        return 0 if all(r.met() in ("yes", "") for r in bench.rows) else 1
    finally:
        for reg in bench.regs:
            reg.stop()
        shutil.rmtree(base, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench/registry.py must run as root (the peer dockerd's socket)", file=sys.stderr)
        return 2
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
