"""Compose benchmark (issue 8): `up -d` from nothing, a no-op `up -d`, and `down` of a
5-service project, side by side:

- ``wharfie``: ``wharfie compose`` against its own wharfied (started here, temporary root);
- ``wharfie@dockerd``: the same ``wharfie compose`` against the peer dockerd
  (unix:///run/peer-docker.sock, started by ../shared/bench/peers/setup.sh): the client's
  share of the time, against the same engine docker-compose uses;
- ``docker-compose``: docker-compose 1.29 (``--compose PATH``, default ``docker-compose`` on
  PATH) against the peer dockerd; the issue's targets are against it. When it is not
  installed its column says SKIPPED, loudly;
- ``docker-compose@wharfied``: the same docker-compose 1.29 against wharfied (an unchanged
  client of our API: what wharfied's side costs a foreign client).

Every step is checked after it is timed (not timed itself): after ``up -d`` the project's 5
containers run, the no-op ``up -d`` kept the same 5 ids, and after ``down`` no container and
no ``<project>_default`` network is left. A stack whose step fails or whose check fails is
marked FAILED (with why) and the others carry on; the exit status is then 1.

Rounds are interleaved (each round runs every stack once, the order rotating), every round
uses fresh project names, and the medians and ratios are printed (``--json FILE`` for every
sample). Run as root: ``.venv/bin/python bench/compose.py [--rounds N] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib import median, ratio, rotated

ROOT = Path(__file__).resolve().parents[1]
WHARFIE = str(Path(sys.executable).parent / "wharfie")
PEER_HOST = "unix:///run/peer-docker.sock"
STEPS = ("up", "noop", "down")
STACKS = ("wharfie", "wharfie@dockerd", "docker-compose", "docker-compose@wharfied")
N_SERVICES = 5
TARGETS = {"up": 0.5, "noop": 0.25, "down": 0.5}  # wharfie / docker-compose 1.29, at most
SLEEPER = '["sh", "-c", "trap \'exit 0\' TERM; sleep 300 & wait"]'


def project_text() -> str:
    """Five services (a dependency chain, a fan-in, a loner), all exiting on SIGTERM."""

    def svc(name: str, deps: Sequence[str] = ()) -> str:
        text = f"  {name}:\n    image: busybox\n    command: {SLEEPER}\n"
        if deps:
            text += "    depends_on: [" + ", ".join(deps) + "]\n"
        return text

    return (
        "version: '2.4'\nservices:\n"
        + svc("db")
        + svc("cache")
        + svc("api", ["db", "cache"])
        + svc("web", ["api"])
        + svc("worker")
    )


def fmt(values: Sequence[float]) -> str:
    if not values:
        return "—"
    m, lo, hi = median(values), min(values), max(values)
    return f"{m * 1000:.0f} ms ({lo * 1000:.0f}-{hi * 1000:.0f})"


def report(
    samples: dict[str, dict[str, list[float]]],
    stacks: Sequence[str],
    skipped: dict[str, str],
    failed: dict[str, str] | None = None,
) -> str:
    """A markdown table: one row per step, one column per stack, ratios and targets."""
    head = [
        "step",
        *stacks,
        "wharfie / docker-compose",
        "target",
        "met?",
        "wharfie / wharfie@dockerd",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for step in STEPS:
        cells = [step]
        for s in stacks:
            cells.append(
                "SKIPPED"
                if s in skipped
                else "FAILED"
                if s in (failed or {})
                else fmt(samples[s][step])
            )
        r = ratio(samples["wharfie"][step], samples.get("docker-compose", {}).get(step, []))
        cells.append("—" if r is None else f"{r:.2f}x")
        cells.append(f"<= {TARGETS[step]}x docker-compose")
        cells.append("n/a" if r is None else ("yes" if r <= TARGETS[step] else "NO"))
        r2 = ratio(samples["wharfie"][step], samples.get("wharfie@dockerd", {}).get(step, []))
        cells.append("—" if r2 is None else f"{r2:.2f}x")
        lines.append("| " + " | ".join(cells) + " |")
    for s, why in skipped.items():
        lines.append(f"\n{s}: SKIPPED ({why})")
    for s, why in (failed or {}).items():
        lines.append(f"\n{s}: FAILED ({why})")
    return "\n".join(lines)


def check_step(
    step: str, rows: Sequence[dict[str, object]], before: Sequence[str] = ()
) -> str | None:
    """What is wrong with the project's containers after ``step`` (None: all is well).
    ``rows`` are /containers/json entries of the project (all=1), ``before`` the ids that
    ``up`` left, which the no-op ``up`` must keep."""
    running = sorted(str(r["Id"]) for r in rows if r.get("State") == "running")
    if step == "down":
        return None if not rows else f"{len(rows)} container(s) left after down"
    if len(rows) != N_SERVICES or len(running) != N_SERVICES:
        return (
            f"{len(running)} of {len(rows)} containers running after {step}, expected {N_SERVICES}"
        )
    if step == "noop" and running != sorted(before):
        return "the no-op up replaced containers"
    return None


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument(
        "--compose",
        default=shutil.which("docker-compose") or "docker-compose",
        help="docker-compose 1.29 executable",
    )
    p.add_argument("--stacks", default=",".join(STACKS))
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    args.stacks = [s.strip() for s in args.stacks.split(",") if s.strip()]
    bad = [s for s in args.stacks if s not in STACKS]
    if bad:
        p.error(f"unknown stack(s) {bad}")
    if "wharfie" not in args.stacks:
        args.stacks.insert(0, "wharfie")
    return args


# ---------------------------------------------------------------- running


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class StepFailed(Exception):
    pass


class Stack:
    def __init__(self, name: str, argv: list[str], host: str, folder: Path) -> None:
        self.name = name
        self.argv = argv
        self.host = host
        self.env = {
            **os.environ,
            "DOCKER_HOST": host,
            "WHARFIE_HOST": host,
            "COMPOSE_INTERACTIVE_NO_CLI": "1",
        }
        self.file = folder / "compose.yaml"

    def timed(self, project: str, *args: str) -> float:
        cmd = [*self.argv, "-f", str(self.file), "-p", project, *args]
        t0 = time.perf_counter()
        p = subprocess.run(cmd, env=self.env, capture_output=True, timeout=300)
        took = time.perf_counter() - t0
        if p.returncode != 0:
            raise StepFailed(f"{' '.join(args)} exited {p.returncode}: {p.stderr.decode()[-2000:]}")
        return took

    def rows(self, project: str) -> list[dict[str, object]]:
        import docker

        api = docker.APIClient(base_url=self.host)
        try:
            found: list[dict[str, object]] = api.containers(
                all=True, filters={"label": f"com.docker.compose.project={project}"}
            )
            if not found and api.networks(names=[f"{project}_default"]):
                raise StepFailed(f"network {project}_default left after down")
            return found
        finally:
            api.close()

    def cycle(self, project: str) -> dict[str, float]:
        """up -d, a no-op up -d, down: timed, each checked afterwards (untimed)."""
        times: dict[str, float] = {}
        before: list[str] = []
        for step, argv in (("up", ("up", "-d")), ("noop", ("up", "-d")), ("down", ("down",))):
            times[step] = self.timed(project, *argv)
            rows = self.rows(project)
            wrong = check_step(step, rows, before)
            if wrong:
                raise StepFailed(wrong)
            before = [str(r["Id"]) for r in rows]
        return times


def _version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, timeout=30)
    except OSError as exc:
        return f"unknown ({exc})"
    return (
        p.stdout.decode().strip().splitlines()[0] if p.returncode == 0 and p.stdout else "unknown"
    )


def run(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT / "tests"))
    from support.daemon import Daemon, busybox_tar

    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    if not shutil.which(args.compose):
        for s in ("docker-compose", "docker-compose@wharfied"):
            if s in args.stacks:
                skipped[s] = f"{args.compose} is not installed"
        log(
            f"WARNING: docker-compose 1.29 not found ({args.compose}): its columns are "
            "SKIPPED and the targets cannot be checked"
        )
    peer_ok = os.path.exists(PEER_HOST[len("unix://") :])
    for s in ("wharfie@dockerd", "docker-compose"):
        if s in args.stacks and not peer_ok:
            skipped.setdefault(s, "the peer dockerd is not running (run peers/setup.sh)")
    tmp = Path(tempfile.mkdtemp(prefix="wharfie-bench-compose-"))
    (tmp / "compose.yaml").write_text(project_text())
    d = Daemon(tmp / "wharfied", 9)
    d.start()
    try:
        import docker

        docker.APIClient(base_url=d.host).import_image_from_data(
            busybox_tar(d.base), repository="busybox", tag="latest", changes=['CMD ["sh"]']
        )
        stacks = {
            "wharfie": Stack("wharfie", [WHARFIE, "compose"], d.host, tmp),
            "wharfie@dockerd": Stack("wharfie@dockerd", [WHARFIE, "compose"], PEER_HOST, tmp),
            "docker-compose": Stack("docker-compose", [args.compose], PEER_HOST, tmp),
            "docker-compose@wharfied": Stack(
                "docker-compose@wharfied", [args.compose], d.host, tmp
            ),
        }
        samples: dict[str, dict[str, list[float]]] = {
            s: {step: [] for step in STEPS} for s in args.stacks
        }
        for rnd in range(args.rounds + 1):  # round 0 warms caches and is not counted
            live = [s for s in args.stacks if s not in skipped and s not in failed]
            for s in rotated(live, rnd):
                project = f"bench{secrets.token_hex(3)}"
                try:
                    times = stacks[s].cycle(project)
                except (StepFailed, subprocess.TimeoutExpired) as exc:
                    failed[s] = f"round {rnd}: {exc}"
                    log(f"FAILED {s}: {exc}")
                    subprocess.run(
                        [
                            *stacks[s].argv,
                            "-f",
                            str(tmp / "compose.yaml"),
                            "-p",
                            project,
                            "down",
                            "-v",
                            "-t",
                            "1",
                        ],
                        env=stacks[s].env,
                        capture_output=True,
                        timeout=300,
                    )
                    continue
                if rnd:
                    for step, v in times.items():
                        samples[s][step].append(v)
                log(
                    f"round {rnd} {s}: "
                    + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in times.items())
                )
        print(report(samples, args.stacks, skipped, failed))
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "samples": samples,
                        "skipped": skipped,
                        "failed": failed,
                        "project": project_text(),
                        "rounds": args.rounds,
                        "versions": {
                            "docker-compose": _version([args.compose, "version", "--short"]),
                            "peer dockerd": _version(
                                ["docker", "-H", PEER_HOST, "version", "-f", "{{.Server.Version}}"]
                            ),
                        },
                    },
                    indent=2,
                )
            )
    finally:
        d.teardown()
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
