#!/usr/bin/env python3
"""OCI runtime start benchmark: whole-process wall time of `<runtime> run <fresh-id>`.

Runs one busybox bundle whose process is `true` (terminal false) under several
runtimes -- wharfie-runtime, runc, crun by default -- *interleaved*: every round
runs each runtime once, in an order that rotates from round to round, so the
noise of a shared 2-core VM falls on all of them alike. Each run gets a fresh
container id and each runtime its own `--root` state directory in a temp dir.

Timing is `time.perf_counter_ns()` around `os.posix_spawn` + `os.waitpid` of the
runtime binary itself (no shell, no wrapper): the harness overhead is a few
microseconds and identical for every runtime. A run that exits non-zero (or
times out) marks its runtime FAILED: it is reported with its error text and
not timed any further.

After the loop the script checks that nothing is left behind (state dirs empty,
no cgroup named after one of this run's ids) and cleans up if something is.

Needs root. See bench/README.md. Usage:

    .venv/bin/python bench/runtime_run.py [--rounds 30] [--warmup 3]
        [--runtimes wharfie,runc,crun] [--network default|new|none]
        [--json FILE] [--timeout 30] [--keep-tmp]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_report import (
    compute_ratios,
    format_table,
    format_verdicts,
    rotation,
    summarize,
)

REPO = Path(__file__).resolve().parent.parent
WHARFIE_RUNTIME = REPO / ".venv" / "bin" / "wharfie-runtime"
DEFAULT_RUNTIMES = "wharfie,runc,crun"
KNOWN_BINARIES = {"wharfie": "wharfie-runtime", "runc": "runc", "crun": "crun"}
EXTRA_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
CGROUP_ROOT = Path("/sys/fs/cgroup")
ERROR_TAIL = 600  # characters of a failing run's output kept for the report
NETWORK_MODES = ("default", "new", "none", "host")


# --------------------------------------------------------------- pure statistics


def apply_network(spec: dict[str, Any], mode: str) -> dict[str, Any]:
    """Set the spec's network namespace: default (as is), new (own netns), none/host (no netns)."""
    if mode not in NETWORK_MODES:
        raise ValueError(f"unknown network mode {mode!r}")
    if mode == "default":
        return spec
    nss = [ns for ns in spec["linux"]["namespaces"] if ns["type"] != "network"]
    if mode == "new":
        nss.append({"type": "network"})
    spec["linux"]["namespaces"] = nss
    return spec


def parse_runtimes(arg: str) -> list[tuple[str, str | None]]:
    """'wharfie,runc,x=/opt/x' -> [(name, explicit path or None), ...]."""
    out = []
    for item in (s.strip() for s in arg.split(",")):
        if not item:
            continue
        name, _, path = item.partition("=")
        out.append((name, path or None))
    if not out:
        raise ValueError("no runtimes given")
    return out


# ----------------------------------------------------------------- the runtimes


@dataclass
class Runtime:
    name: str
    path: str | None
    root: Path
    version: str | None = None
    status: str = "ok"  # ok | failed | skipped
    error: str | None = None
    samples_ns: list[int] = field(default_factory=list)
    by_round_ns: list[int | None] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)


def find_binary(name: str, explicit: str | None) -> str | None:
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    if name == "wharfie":
        return str(WHARFIE_RUNTIME) if os.access(WHARFIE_RUNTIME, os.X_OK) else None
    binary = KNOWN_BINARIES.get(name, name)
    path = os.environ.get("PATH", "") + os.pathsep + os.pathsep.join(EXTRA_PATH)
    return shutil.which(binary, path=path)


def runtime_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    if out.returncode != 0 or not lines:
        return None
    words = lines[0].split()
    if "version" in words[:-1]:
        return words[words.index("version") + 1]
    return words[-1]


def build_bundles(tmp: Path, network: str) -> tuple[Path, Path]:
    """The busybox bundle (process `true`, terminal false, no cgroupsPath) in `tmp/bundle`,
    and a probe bundle on the same rootfs that writes its pid into `tmp/probe/pid`."""
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "src"))
    from tests.support.bundle import bundle_spec, busybox_rootfs, make_bundle, write_spec

    template = busybox_rootfs(tmp / "rootfs-template")
    spec = apply_network(bundle_spec(["true"], terminal=False), network)
    spec["linux"].pop("cgroupsPath", None)
    bundle = make_bundle(tmp / "bundle", template, spec)
    shutil.rmtree(template)
    (tmp / "probe").mkdir()
    probe = apply_network(bundle_spec(["sh", "-c", "echo $$ >/probe/pid"]), network)
    probe["root"]["path"] = str(bundle / "rootfs")
    probe["mounts"].append(
        {
            "destination": "/probe",
            "type": "bind",
            "source": str(tmp / "probe"),
            "options": ["rbind", "rw"],
        }
    )
    (tmp / "probe-bundle").mkdir()
    write_spec(tmp / "probe-bundle", probe)
    return bundle, tmp / "probe-bundle"


def validate(rt: Runtime, spawner: Spawner, probe_bundle: Path, cid: str) -> None:
    """Untimed sanity run: the container process must really run, as pid 1 of its own pid
    namespace (a runtime that exits 0 without running anything must not look fast)."""
    marker = probe_bundle.parent / "probe" / "pid"
    marker.unlink(missing_ok=True)
    if run_once(rt, spawner, probe_bundle, cid) is None:
        return
    got = marker.read_text().strip() if marker.exists() else None
    if got != "1":
        rt.status = "failed"
        rt.error = "validation: exit 0 but the container process did not run " + (
            "(no marker written)" if got is None else f"as pid {got}, not 1"
        )
        log(f"{rt.name} FAILED {rt.error}")


# ------------------------------------------------------------------ one timed run


@dataclass
class Spawner:
    """Runs argv with stdin from /dev/null and stdout+stderr into a scratch file."""

    scratch: Path
    timeout: float
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def __post_init__(self) -> None:
        self.null_fd = os.open(os.devnull, os.O_RDONLY)
        self.out_fd = os.open(self.scratch, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        self.actions = [
            (os.POSIX_SPAWN_DUP2, self.null_fd, 0),
            (os.POSIX_SPAWN_DUP2, self.out_fd, 1),
            (os.POSIX_SPAWN_DUP2, self.out_fd, 2),
        ]

    def run(self, argv: list[str]) -> tuple[int, int | None, str]:
        """(elapsed ns, exit code or None on timeout, output)."""
        os.ftruncate(self.out_fd, 0)
        os.lseek(self.out_fd, 0, os.SEEK_SET)
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, self.env, file_actions=self.actions)
        code = self._wait(pid)
        t1 = time.perf_counter_ns()
        return t1 - t0, code, self._output() if code != 0 else ""

    def _wait(self, pid: int) -> int | None:
        pidfd = os.pidfd_open(pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], self.timeout)
        finally:
            os.close(pidfd)
        if not ready:  # our own child: kill it and reap it
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return None
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status)

    def _output(self) -> str:
        os.lseek(self.out_fd, 0, os.SEEK_SET)
        data = os.read(self.out_fd, 1 << 16).decode(errors="replace").strip()
        return data[-ERROR_TAIL:]

    def close(self) -> None:
        os.close(self.null_fd)
        os.close(self.out_fd)


def run_once(rt: Runtime, spawner: Spawner, bundle: Path, cid: str) -> int | None:
    """Run the bundle once; on failure mark `rt` failed and return None, else elapsed ns."""
    rt.ids.append(cid)
    argv = [rt.path or "", "--root", str(rt.root), "run", "--bundle", str(bundle), cid]
    ns, code, out = spawner.run(argv)
    if code == 0:
        return ns
    rt.status = "failed"
    why = f"timed out after {spawner.timeout:g} s" if code is None else f"exit {code}"
    rt.error = f"{why}: {out}" if out else why
    log(f"{rt.name} FAILED ({why}) on {cid}: {out or '(no output)'}")
    return None


def bench(
    runtimes: list[Runtime],
    spawner: Spawner,
    bundles: tuple[Path, Path],
    token: str,
    rounds: int,
    warmup: int,
) -> None:
    """Validation, warm-up, then timed rounds interleaved in rotating order."""
    bundle, probe = bundles
    for i, rt in enumerate(runtimes):
        if rt.status == "ok":
            validate(rt, spawner, probe, f"wb{token}-probe{i}")
    active = [rt for rt in runtimes if rt.status == "ok"]
    seq = 0
    for r in range(warmup + rounds):
        timed = r >= warmup
        by_name = {rt.name: rt for rt in active}
        for name in rotation([rt.name for rt in active], r):
            rt = by_name[name]
            seq += 1
            ns = run_once(rt, spawner, bundle, f"wb{token}-{seq:05d}")
            if timed and ns is not None:
                rt.samples_ns.append(ns)
        for rt in runtimes:
            if timed:
                got = rt.status == "ok" and rt in active
                rt.by_round_ns.append(rt.samples_ns[-1] if got else None)
        active = [rt for rt in active if rt.status == "ok"]
        if timed and (r - warmup + 1) % 10 == 0:
            log(f"round {r - warmup + 1}/{rounds}")
        if not active:
            break


# ------------------------------------------------------------- leftovers check


def leftover_state(rt: Runtime) -> tuple[list[str], list[str]]:
    """Entries left in the runtime's state root, `delete --force`d; (found, still there)."""
    if not rt.root.is_dir():
        return [], []
    left = sorted(p.name for p in rt.root.iterdir())
    for cid in left:
        if rt.path and cid in rt.ids:
            subprocess.run(
                [rt.path, "--root", str(rt.root), "delete", "--force", cid],
                capture_output=True,
                timeout=30,
                check=False,
            )
    return left, sorted(p.name for p in rt.root.iterdir())


def leftover_cgroups(token: str) -> list[Path]:
    """Cgroup dirs (any hierarchy, any depth) named after one of this run's ids."""
    found = []
    for dirpath, dirnames, _ in os.walk(CGROUP_ROOT):
        for d in dirnames:
            if f"wb{token}-" in d:
                found.append(Path(dirpath) / d)
    return found


def remove_cgroups(paths: list[Path]) -> list[str]:
    """rmdir the cgroups, deepest first; returns the ones that could not be removed."""
    stuck = []
    for p in sorted(paths, key=lambda p: len(p.parts), reverse=True):
        try:
            p.rmdir()
        except OSError as e:
            stuck.append(f"{p}: {e.strerror}")
    return stuck


def mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [m for m in points if m.startswith(prefix)]


def check_leftovers(runtimes: list[Runtime], token: str) -> list[str]:
    """Verify nothing is left behind, clean it up, and describe what was found."""
    notes = []
    for rt in runtimes:
        left, still = leftover_state(rt)
        if left:
            notes.append(
                f"{rt.name}: {len(left)} entries left in its state dir "
                f"({', '.join(left[:5])}); `delete --force` left {len(still)}"
            )
    cgs = leftover_cgroups(token)
    if cgs:
        stuck = remove_cgroups(cgs)
        notes.append(
            f"{len(cgs)} cgroup dirs left behind (e.g. {cgs[0]}); removed "
            f"{len(cgs) - len(stuck)}" + (f", could not remove: {stuck}" if stuck else "")
        )
    return notes


# ------------------------------------------------------------------------ main


def log(msg: str) -> None:
    print(f"[runtime_run] {msg}", file=sys.stderr, flush=True)


def make_runtimes(spec: str, state: Path) -> list[Runtime]:
    out = []
    for name, explicit in parse_runtimes(spec):
        path = find_binary(name, explicit)
        rt = Runtime(name=name, path=path, root=state / name)
        if path is None:
            rt.status = "skipped"
            rt.error = f"not installed ({explicit or KNOWN_BINARIES.get(name, name)} not found)"
            log(f"*** SKIPPING {name}: {rt.error} ***")
        else:
            rt.root.mkdir(parents=True)
            rt.version = runtime_version(path)
        out.append(rt)
    return out


def result_dict(rt: Runtime) -> dict[str, Any]:
    ms = [n / 1e6 for n in rt.samples_ns]
    ok = rt.status == "ok" and bool(ms)
    return {
        "name": rt.name,
        "path": rt.path,
        "version": rt.version,
        "status": rt.status,
        "error": rt.error,
        "samples_ms": ms,
        "by_round_ms": [None if n is None else n / 1e6 for n in rt.by_round_ns],
        "stats": summarize(ms) if ok else None,
    }


def host_info() -> dict[str, Any]:
    return {
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def render(report: dict[str, Any]) -> str:
    a = report["args"]
    head = (
        f"## OCI runtime start: `<runtime> run <fresh-id>` of busybox `true`\n\n"
        f"{a['rounds']} interleaved rounds (rotating order) after {a['warmup']} warm-up "
        f"runs each; network: {a['network']}; kernel {report['host']['kernel']}, "
        f"{report['host']['cpus']} CPUs, {report['host']['date']}. Whole-process wall "
        f"time, ms; ÷ runc / ÷ crun are ratios of medians.\n"
    )
    parts = [head, format_table(report["results"]), "", format_verdicts(report["ratios"])]
    if report["leftovers"]:
        parts += ["", "Leftovers found after the runs (cleaned up):"]
        parts += [f"- {n}" for n in report["leftovers"]]
    return "\n".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=30, help="timed rounds (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs each first (default 3)")
    p.add_argument(
        "--runtimes",
        default=DEFAULT_RUNTIMES,
        help="comma list of wharfie, runc, crun or NAME=PATH (default %(default)s)",
    )
    p.add_argument(
        "--network",
        choices=NETWORK_MODES,
        default="default",
        help="default: the bundle's namespaces as written (includes a network "
        "namespace); new: a fresh network namespace (loopback only, what "
        "docker calls --network none); none/host: no network namespace at all",
    )
    p.add_argument("--json", type=Path, help="also write the full report (with samples) here")
    p.add_argument("--timeout", type=float, default=30.0, help="per-run timeout, s (default 30)")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (bundle, state)")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.warmup < 0:
        p.error("--rounds must be ≥ 1 and --warmup ≥ 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        log("needs root (the runtimes create namespaces, mounts and cgroups)")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="wharfie-bench-"))
    token = os.urandom(4).hex()
    runtimes = make_runtimes(args.runtimes, tmp / "state")
    spawner = Spawner(tmp / "run.out", args.timeout)
    try:
        bundles = build_bundles(tmp, args.network)
        log(
            f"bundle {bundles[0]}; {args.warmup} warm-up + {args.rounds} rounds of "
            + ", ".join(rt.name for rt in runtimes if rt.status == "ok")
        )
        bench(runtimes, spawner, bundles, token, args.rounds, args.warmup)
    finally:
        spawner.close()
        leftovers = check_leftovers(runtimes, token)
        cleanup_tmp(tmp, args.keep_tmp)
    results = [result_dict(rt) for rt in runtimes]
    report = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "host": host_info(),
        "results": results,
        "ratios": compute_ratios(results),
        "leftovers": leftovers,
    }
    print(render(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(rt.status != "failed" for rt in runtimes) else 1


def cleanup_tmp(tmp: Path, keep: bool) -> None:
    busy = mounts_under(tmp)
    if keep or busy:
        log(f"temp dir kept: {tmp}" + (f" (mounts still under it: {busy})" if busy else ""))
        return
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
