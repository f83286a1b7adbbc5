"""Engine benchmarks: wharfied/wharfie side by side with docker and podman (issue 3).

Starts its own wharfied (temporary data root, exec root, socket and bridge), bootstraps
busybox into it, and times whole CLI processes from outside, interleaved round-robin between
engines. See bench/README.md, section "Engine: bench/engine.py".

Run as root: ``.venv/bin/python bench/engine.py [--rounds N] [--scale N] [--reps N]
[--only run,dockercli,scale,logs] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from benchlib import compile_sources, median, ratio, rotated

VENV_BIN = Path(sys.executable).parent
WHARFIE = str(VENV_BIN / "wharfie")
DOCKER = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else "docker"
PODMAN = shutil.which("podman") or "podman"
PEER_DOCKER_HOST = "unix:///run/peer-docker.sock"
SECTIONS = ("run", "dockercli", "scale", "logs")
LOG_LINES = 2_000_000
LOG_BYTES = LOG_LINES * len("hello\n")
LABEL_KEY = "wharfie-bench"
T = TypeVar("T")


# ---------------------------------------------------------------- pure helpers


def fmt_seconds(v: float) -> str:
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def fmt_value(values: Sequence[float], unit: str) -> str:
    """Median with min-max in the median's unit: '123 ms (110-140)', '2.50 s (2.41-2.70)',
    '0.41 MiB (0.39-0.44)'; unit is 's', 'MiB' or 'MB/s'."""
    if not values:
        return "—"
    m, lo, hi = median(values), min(values), max(values)
    if unit == "s":
        if m < 1:
            return f"{m * 1000:.0f} ms ({lo * 1000:.0f}-{hi * 1000:.0f})"
        return f"{m:.2f} s ({lo:.2f}-{hi:.2f})"
    return f"{m:.2f} {unit} ({lo:.2f}-{hi:.2f})"


def fmt_ratio(r: float | None) -> str:
    return "—" if r is None else f"{r:.2f}x"


@dataclass
class Target:
    """'le' (wharfie/peer <= value) or 'ge' (wharfie/peer >= value) against one peer."""

    peer: str
    op: str
    value: float

    def met(self, r: float | None) -> bool | None:
        if r is None:
            return None
        return r <= self.value if self.op == "le" else r >= self.value

    def __str__(self) -> str:
        return f"{'<=' if self.op == 'le' else '>='} {self.value:g}x {self.peer}"


@dataclass
class Row:
    name: str
    unit: str  # "s", "MiB" or "MB/s"
    samples: dict[str, list[float]] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    note: str = ""

    def add(self, engine: str, value: float) -> None:
        self.samples.setdefault(engine, []).append(value)

    def ratio(self, peer: str) -> float | None:
        return ratio(self.samples.get("wharfie", []), self.samples.get(peer, []))

    def met(self) -> str:
        results = [t.met(self.ratio(t.peer)) for t in self.targets]
        if not results:
            return ""
        if any(r is None for r in results):
            return "n/a"
        return "yes" if all(results) else "NO"

    def cells(self) -> list[str]:
        return [
            self.name + (f" ({self.note})" if self.note else ""),
            fmt_value(self.samples.get("wharfie", []), self.unit),
            fmt_value(self.samples.get("docker", []), self.unit),
            fmt_value(self.samples.get("podman", []), self.unit),
            fmt_ratio(self.ratio("docker")),
            fmt_ratio(self.ratio("podman")),
            ", ".join(str(t) for t in self.targets),
            self.met(),
        ]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "unit": self.unit,
            "note": self.note,
            "samples": self.samples,
            "median": {k: median(v) for k, v in self.samples.items() if v},
            "ratio_vs_docker": self.ratio("docker"),
            "ratio_vs_podman": self.ratio("podman"),
            "targets": [str(t) for t in self.targets],
            "met": self.met(),
        }


HEADER = [
    "measurement",
    "wharfie",
    "docker",
    "podman",
    "ratio vs docker",
    "ratio vs podman",
    "target",
    "met?",
]


def table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r.cells()) + " |" for r in rows]
    return "\n".join(lines)


def parse_sections(text: str) -> list[str]:
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in wanted if s not in SECTIONS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown section(s) {bad}; choose from {list(SECTIONS)}")
    return wanted


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=10, help="rounds of the cheap measurements")
    p.add_argument("--scale", type=int, default=50, help="containers in the scale test")
    p.add_argument("--reps", type=int, default=3, help="repetitions of the scale test")
    p.add_argument(
        "--only",
        type=parse_sections,
        default=list(SECTIONS),
        help=f"comma list of sections: {','.join(SECTIONS)}",
    )
    p.add_argument(
        "--log-rounds",
        type=int,
        default=5,
        help="rounds of the logs read-back (docker takes ~12 s per read)",
    )
    p.add_argument("--json", metavar="FILE", help="write every sample as JSON")
    p.add_argument(
        "--engines",
        default="wharfie,docker,podman",
        help="comma list of engines (wharfie is always included)",
    )
    args = p.parse_args(argv)
    if min(args.rounds, args.scale, args.reps, args.log_rounds) < 1:
        p.error("--rounds, --scale, --reps and --log-rounds must be at least 1")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    bad = [e for e in engines if e not in ("wharfie", "docker", "podman")]
    if bad:
        p.error(f"unknown engine(s) {bad}")
    args.engines = ["wharfie", *[e for e in engines if e != "wharfie"]]
    return args


def pss_kib(smaps_rollup: str) -> int:
    """Pss (kB) from the text of /proc/<pid>/smaps_rollup."""
    for line in smaps_rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


# ---------------------------------------------------------------- processes


def log(msg: str) -> None:
    print(f"[engine] {msg}", file=sys.stderr, flush=True)


def proc_pss_kib(pid: int) -> int:
    try:
        return pss_kib(Path(f"/proc/{pid}/smaps_rollup").read_text())
    except OSError:
        return 0


def all_pids() -> Iterator[int]:
    for d in os.listdir("/proc"):
        if d.isdigit():
            yield int(d)


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def ppid(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def descendants(roots: set[int]) -> set[int]:
    parent = {p: ppid(p) for p in all_pids()}
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for p, pp in parent.items():
            if pp in found and p not in found:
                found.add(p)
                grew = True
    return found


class Timer:
    """Whole-process wall time of a CLI run (perf_counter around subprocess.run)."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch

    def run(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        check: bool = True,
        stdout: int | None = subprocess.DEVNULL,
        timeout: float = 600,
    ) -> float:
        # No Popen.wait(timeout): with a timeout it polls with sleeps of up to 50 ms, which
        # quantizes every figure; a blocking waitpid plus a watchdog timer does not.
        with open(self.scratch, "wb") as err:
            t0 = time.perf_counter()
            p = subprocess.Popen(
                list(argv), env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err
            )
            watchdog = threading.Timer(timeout, p.kill)
            watchdog.start()
            try:
                p.wait()
            finally:
                watchdog.cancel()
            dt = time.perf_counter() - t0
        if check and p.returncode != 0:
            tail = self.scratch.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{' '.join(argv)} exited {p.returncode}: {tail}")
        return dt


# ---------------------------------------------------------------- engines


@dataclass
class Engine:
    name: str
    argv: list[str]
    env: dict[str, str]
    rm: list[str]  # force-remove prefix
    shim_comm: str = ""  # per-container helper processes, for memory

    def cmd(self, *args: str) -> list[str]:
        return [*self.argv, *args]

    def out(self, *args: str, timeout: float = 120) -> str:
        p = subprocess.run(
            self.cmd(*args),
            env=self.env,
            capture_output=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        if p.returncode != 0:
            raise RuntimeError(
                f"{' '.join(self.cmd(*args))} exited {p.returncode}: "
                f"{p.stderr.decode(errors='replace')[-2000:]}"
            )
        return p.stdout.decode()

    def names(self, prefix: str) -> list[str]:
        text = self.out("ps", "-a", "--format", "{{.Names}}")
        return [n for n in text.split() if n.startswith(prefix)]

    def remove(self, names: Sequence[str]) -> None:
        if names:
            subprocess.run(
                [*self.rm, *names],
                env=self.env,
                capture_output=True,
                timeout=600,
                stdin=subprocess.DEVNULL,
                check=False,
            )


class Wharfied:
    """Our own daemon: temp data root, exec root, socket and bridge (like tests/support)."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "w.sock"
        self.host = f"unix://{self.sock}"
        self.exec_root = base / "exec"
        self.bridge = f"wb{secrets.token_hex(5)}"
        self.subnet = f"10.216.{os.getpid() % 250}.0/24"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = base / "wharfied.log"

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "wharfie.daemon",
            "-H",
            self.host,
            "--data-root",
            str(self.base / "data"),
            "--exec-root",
            str(self.exec_root),
            "--bridge",
            self.bridge,
            "--bip",
            self.subnet,
            "--no-masquerade",
            "--pidfile",
            str(self.base / "wharfied.pid"),
        ]
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"wharfied exited: {self.log.read_text()[-3000:]}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(self.sock))
                    s.sendall(b"GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n")
                    if s.recv(100).startswith(b"HTTP/1.1 200"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"wharfied did not answer: {self.log.read_text()[-3000:]}")

    def monitor_pid(self) -> int:
        try:
            return int((self.exec_root / "monitor.pid").read_text().strip())
        except (OSError, ValueError):
            return 0

    def pids(self) -> set[int]:
        """wharfied, the monitor, and any descendant of theirs that is a wharfie process."""
        roots = {p for p in (self.proc.pid if self.proc else 0, self.monitor_pid()) if p}
        return {p for p in descendants(roots) if p in roots or "wharfie" in cmdline(p)}

    def pss_kib(self) -> int:
        return sum(proc_pss_kib(p) for p in self.pids())

    def stop(self) -> None:
        mon = self.monitor_pid()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        try:  # the monitor's warden first: it would fork a new monitor
            warden = int((self.exec_root / "warden.pid").read_text().strip())
        except (OSError, ValueError):
            warden = 0
        for pid in (warden, mon):
            if pid and f"{self.exec_root}" in cmdline(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        with open("/proc/self/mountinfo") as f:
            points = [line.split()[4] for line in f if line.split()[4].startswith(str(self.base))]
        for point in reversed(points):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        from wharfie.network import Bridge  # lazy: only needed at teardown

        Bridge(self.bridge, self.subnet).remove()


def shim_pss_kib(comm_prefix: str) -> int:
    return sum(proc_pss_kib(p) for p in all_pids() if comm(p).startswith(comm_prefix))


# ---------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace, base: Path, daemon: Wharfied) -> None:
        self.args = args
        self.base = base
        self.daemon = daemon
        self.prefix = f"wbench{secrets.token_hex(3)}"
        self.label = f"{LABEL_KEY}={self.prefix}"
        self.timer = Timer(base / "stderr.txt")
        cfg = base / "docker-config"
        cfg.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "WHARFIE_HOST")}
        docker_env = {**env, "DOCKER_CONFIG": str(cfg), "DOCKER_HOST": PEER_DOCKER_HOST}
        wh_env = {**env, "WHARFIE_HOST": daemon.host}
        all_engines = {
            "wharfie": Engine(
                "wharfie",
                [WHARFIE, "-H", daemon.host],
                wh_env,
                [WHARFIE, "-H", daemon.host, "rm", "-f"],
            ),
            "docker": Engine(
                "docker", [DOCKER], docker_env, [DOCKER, "rm", "-f"], "containerd-shim"
            ),
            "podman": Engine("podman", [PODMAN], env, [PODMAN, "rm", "-f", "-t", "0"], "conmon"),
        }
        self.engines = [all_engines[e] for e in args.engines]
        self.wharfie = all_engines["wharfie"]
        self.docker_on_wharfied = Engine(
            "docker→wharfied",
            [DOCKER, "-H", daemon.host],
            {**env, "DOCKER_CONFIG": str(cfg)},
            [DOCKER, "-H", daemon.host, "rm", "-f"],
        )
        self.rows: list[Row] = []
        self.notes: list[str] = []

    def timed(self, e: Engine, *args: str, stdout: int | None = subprocess.DEVNULL) -> float:
        return self.timer.run(e.cmd(*args), e.env, stdout=stdout)

    # -- 1. run --rm
    def bench_run(self) -> None:
        for net in ("none", "default"):
            netargs = ["--network", "none"] if net == "none" else []
            row = Row(
                f"run --rm busybox true, network {net}",
                "s",
                targets=[Target("docker", "le", 0.25), Target("podman", "le", 0.5)],
            )
            cmd = ["run", "--rm", "--label", self.label, *netargs, "busybox", "true"]
            for e in self.engines:  # warm-up
                self.timed(e, *cmd)
            for r in range(self.args.rounds):
                for e in rotated(self.engines, r):
                    row.add(e.name, self.timed(e, *cmd))
            log(f"done: {row.name}")
            self.rows.append(row)

    # -- 2. docker CLI against wharfied
    def bench_dockercli(self) -> None:
        row = Row(
            "docker CLI: run --rm busybox true",
            "s",
            targets=[Target("docker", "le", 0.5)],
            note="wharfie column = docker -H wharfied",
        )
        cmd = ["run", "--rm", "--label", self.label, "busybox", "true"]
        pair = [self.docker_on_wharfied, *[e for e in self.engines if e.name == "docker"]]
        for e in pair:
            self.timed(e, *cmd)
        for r in range(self.args.rounds):
            for e in rotated(pair, r):
                row.add("wharfie" if e is self.docker_on_wharfied else e.name, self.timed(e, *cmd))
        log(f"done: {row.name}")
        self.rows.append(row)

    # -- 3-6, 8. scale: start N, memory, ps, exec, rm -f
    def bench_scale(self) -> None:
        n = self.args.scale
        start = Row(
            f"start {n} x run -d busybox sleep (total)", "s", targets=[Target("docker", "le", 0.2)]
        )
        mem = Row(
            f"memory per container, {n} running (PSS)",
            "MiB",
            targets=[Target("podman", "le", 1.0)],
            note="wharfied+monitor; docker: containerd-shim; podman: conmon",
        )
        ps = Row(f"ps with {n} running", "s", targets=[Target("docker", "le", 1.0)])
        ex = Row("exec <running> true", "s", targets=[Target("docker", "le", 0.5)])
        rm = Row(f"rm -f of {n} in one command", "s", targets=[Target("docker", "le", 0.25)])
        for rep in range(self.args.reps):
            order = rotated(self.engines, rep)
            ids: dict[str, list[str]] = {}
            for e in order:
                idle = self.pss_of(e)
                names = [f"{self.prefix}-s{rep}-{i}" for i in range(n)]
                t0 = time.perf_counter()
                for name in names:
                    self.timed(
                        e,
                        "run",
                        "-d",
                        "--name",
                        name,
                        "--label",
                        self.label,
                        "busybox",
                        "sleep",
                        "100000",
                    )
                start.add(e.name, time.perf_counter() - t0)
                ids[e.name] = names
                time.sleep(1.0)  # let the just-started processes settle before measuring
                mem.add(e.name, (self.pss_of(e) - idle) / 1024 / n)
                if rep == 0:
                    self.notes.append(f"memory, {e.name}: counted {self.counted(e)}")
                log(f"rep {rep}: {e.name} started {n} in {start.samples[e.name][-1]:.2f} s")
            rounds = self.args.rounds if rep == 0 else 0
            for r in range(rounds):
                for e in rotated(self.engines, r):
                    ps.add(e.name, self.timed(e, "ps"))
                for e in rotated(self.engines, r):
                    ex.add(e.name, self.timed(e, "exec", ids[e.name][0], "true"))
            for e in order:
                rm.add(e.name, self.timer.run([*e.rm, *ids[e.name]], e.env, timeout=900))
            log(f"rep {rep}: done")
        self.rows += [start, mem, ps, ex, rm]

    def counted(self, e: Engine) -> str:
        """Which processes the memory row sums, e.g. '2 processes: monitor, python'."""
        if e.name == "wharfie":
            pids = self.daemon.pids()
        else:
            pids = {p for p in all_pids() if comm(p).startswith(e.shim_comm)}
        names = sorted({comm(p) for p in pids})
        return f"{len(pids)} processes ({', '.join(names)})"

    def pss_of(self, e: Engine) -> int:
        return self.daemon.pss_kib() if e.name == "wharfie" else shim_pss_kib(e.shim_comm)

    # -- 7. logs read-back
    def bench_logs(self) -> None:
        row = Row(
            f"logs read-back of {LOG_BYTES / 1e6:.0f} MB",
            "MB/s",
            targets=[Target("docker", "ge", 20.0)],
        )
        name = f"{self.prefix}-logs"
        for e in self.engines:
            self.timer.run(
                e.cmd(
                    "run",
                    "-d",
                    "--name",
                    name,
                    "--label",
                    self.label,
                    "busybox",
                    "sh",
                    "-c",
                    f"yes hello | head -n {LOG_LINES}",
                ),
                e.env,
            )
            e.out("wait", name, timeout=300)
            got = len(
                subprocess.run(
                    e.cmd("logs", name), env=e.env, capture_output=True, timeout=300, check=True
                ).stdout
            )
            if got != LOG_BYTES:
                self.notes.append(f"{e.name} logs returned {got} bytes, expected {LOG_BYTES}")
            else:
                self.notes.append(f"{e.name} logs byte count checked: {got}")
        for r in range(self.args.log_rounds):
            for e in rotated(self.engines, r):
                row.add(e.name, LOG_BYTES / 1e6 / self.timed(e, "logs", name))
        for e in self.engines:
            e.remove([name])
        log(f"done: {row.name}")
        self.rows.append(row)

    def cleanup(self) -> None:
        for e in self.engines:
            if e.name == "wharfie":
                continue
            try:
                e.remove(e.names(self.prefix))
            except Exception as exc:  # report and carry on cleaning the others
                log(f"cleanup of {e.name} failed: {exc}")


def run(args: argparse.Namespace) -> int:
    compile_sources()
    base = Path(tempfile.mkdtemp(prefix="wharfie-engine-bench-"))
    daemon = Wharfied(base)
    bench: Bench | None = None
    try:
        log(f"starting wharfied in {base} (bridge {daemon.bridge}, {daemon.subnet})")
        daemon.start()
        bench = Bench(args, base, daemon)
        bench.timer.run(
            [WHARFIE, "-H", daemon.host, "image", "bootstrap", "busybox"],
            bench.wharfie.env,
            timeout=300,
        )
        steps: dict[str, Callable[[], None]] = {
            "run": bench.bench_run,
            "dockercli": bench.bench_dockercli,
            "scale": bench.bench_scale,
            "logs": bench.bench_logs,
        }
        failed = 0
        for section in SECTIONS:
            if section in args.only:
                log(f"section {section}")
                try:
                    steps[section]()
                except (RuntimeError, subprocess.SubprocessError) as exc:
                    failed += 1
                    bench.notes.append(f"section {section} FAILED: {exc}")
                    log(f"section {section} FAILED: {exc}")
                    bench.cleanup()
        print(
            f"Engine benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}; "
            f"rounds={args.rounds}, scale={args.scale}, reps={args.reps}, "
            f"log-rounds={args.log_rounds}\n"
        )
        print(table(bench.rows))
        for note in bench.notes:
            print(f"\n- {note}")
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "args": {k: v for k, v in vars(args).items()},
                        "rows": [r.to_json() for r in bench.rows],
                        "notes": bench.notes,
                    },
                    indent=1,
                )
            )
        return 1 if failed else 0
    finally:
        if bench is not None:
            bench.cleanup()
        try:
            daemon.stop()
        except Exception as exc:  # still remove the temp dir
            log(f"stopping wharfied failed: {exc}")
        shutil.rmtree(base, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench/engine.py must run as root", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
