"""Build benchmarks: `wharfie build` against wharfied side by side with docker's legacy
builder (DOCKER_BUILDKIT=0) and BuildKit (DOCKER_BUILDKIT=1) on the peer dockerd (issue 6).

The Dockerfile is the peers' build context (/var/lib/peer-bench/buildctx, written by
/work/shared/bench/peers/setup.sh: FROM busybox, two RUNs and a COPY), copied to one private
context per engine. Three scenarios per round, engines interleaved (the order rotates by one
place per round):

* cold     -- `--no-cache`: every step runs (the base image is present);
* cached   -- the same build again: every step a cache hit;
* changed  -- the COPY source gets new content, then a build: the steps before the COPY
              hit, the COPY and what follows run.

Whole-process wall time of the client (`wharfie build` / `docker build`). Starts its own
wharfied (temp data root, socket, bridge) and bootstraps busybox into it; the peer dockerd
must be running (setup.sh). Images it tags are removed afterwards.

Run as root: ``.venv/bin/python bench/build.py [--rounds N] [--json FILE]``.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from benchlib import median, ratio, rotated

VENV_BIN = Path(sys.executable).parent
WHARFIE = str(VENV_BIN / "wharfie")
DOCKER = "/usr/local/bin/docker" if os.path.exists("/usr/local/bin/docker") else "docker"
PEER_DOCKER_HOST = "unix:///run/peer-docker.sock"
PEER_CTX = Path("/var/lib/peer-bench/buildctx")
T = TypeVar("T")
PEERS = ("docker", "buildkit")
OURS_VIA_DOCKER = "docker-cli-wharfied"
SCENARIOS = ("cold", "cached", "changed")
# wharfie/peer ratio targets (issue 6)
TARGETS: dict[str, list[tuple[str, float]]] = {
    "cold": [("docker", 0.5), ("buildkit", 1.0)],
    "cached": [("docker", 0.5)],
    "changed": [("docker", 1.0)],
}


# ---------------------------------------------------------------- pure helpers
def fmt_ms(values: Sequence[float]) -> str:
    if not values:
        return "—"
    return f"{median(values) * 1000:.0f} ms ({min(values) * 1000:.0f}-{max(values) * 1000:.0f})"


@dataclass
class Row:
    scenario: str
    samples: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)

    def add(self, engine: str, seconds: float) -> None:
        self.samples.setdefault(engine, []).append(seconds)

    def ratio(self, peer: str, ours: str = "wharfie") -> float | None:
        return ratio(self.samples.get(ours, []), self.samples.get(peer, []))

    def verdict(self) -> str:
        out = []
        for peer, limit in TARGETS.get(self.scenario, []):
            r = self.ratio(peer)
            out.append(
                f"<= {limit:g}x {peer}: "
                + ("n/a" if r is None else ("yes" if r <= limit else "NO"))
            )
        return "; ".join(out)

    def cells(self, engines: Sequence[str]) -> list[str]:
        vals = [self.failures.get(e) or fmt_ms(self.samples.get(e, [])) for e in engines]
        ratios = [self.ratio(p) for p in PEERS if p in engines]
        if OURS_VIA_DOCKER in engines and "docker" in engines:
            ratios.append(self.ratio("docker", ours=OURS_VIA_DOCKER))
        shown = ["—" if r is None else f"{r:.2f}x" for r in ratios]
        return [self.scenario, *vals, *shown, self.verdict()]


def table(rows: Sequence[Row], engines: Sequence[str]) -> str:
    head = ["build", *engines, *(f"wharfie/{p}" for p in PEERS if p in engines)]
    if OURS_VIA_DOCKER in engines and "docker" in engines:
        head.append(f"{OURS_VIA_DOCKER}/docker")
    head.append("target met?")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r.cells(engines)) + " |" for r in rows]
    return "\n".join(lines)


def failure_reason(output: str) -> str:
    """The line of a failed build's output that says why (an ERROR line, else the last)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if "ERROR:" in ln:
            return ln.split("ERROR:", 1)[1].strip()[:70]
    return (lines[-1] if lines else "failed")[:70]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", default="")
    ap.add_argument("--context", default=str(PEER_CTX))
    ap.add_argument(
        "--engines",
        default="wharfie,docker,buildkit,docker-cli-wharfied",
        help="wharfie (wharfie CLI -> wharfied), docker (legacy builder), buildkit "
        "(DOCKER_BUILDKIT=1) and docker-cli-wharfied (the docker CLI -> "
        "wharfied)",
    )
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    return args


# ---------------------------------------------------------------- the bench
class Client:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], ctx: Path) -> None:
        self.name, self.argv, self.env, self.ctx = name, argv, env, ctx
        self.tag = f"wharfie-bench-build-{name}:{secrets.token_hex(3)}"

    def build(self, *extra: str) -> float:
        cmd = [*self.argv, "build", "-q", *extra, "-t", self.tag, str(self.ctx)]
        t0 = time.perf_counter()
        p = subprocess.run(
            cmd,
            env=self.env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
            check=False,
        )
        took = time.perf_counter() - t0
        if p.returncode != 0:
            raise RuntimeError(
                f"{self.name}: {' '.join(cmd)} exited {p.returncode}: "
                f"{(p.stdout + p.stderr).decode(errors='replace')[-1500:]}"
            )
        return took

    def touch_source(self) -> None:
        (self.ctx / "somefile").write_text(f"changed {secrets.token_hex(8)}\n")

    def remove_image(self) -> None:
        subprocess.run(
            [*self.argv, "rmi", "-f", self.tag],
            env=self.env,
            capture_output=True,
            timeout=120,
            check=False,
        )


def clients(names: list[str], tmp: Path, src: Path, wharfie_host: str) -> list[Client]:
    out = []
    for name in names:
        ctx = tmp / f"ctx-{name}"
        shutil.copytree(src, ctx)
        if name == "wharfie":
            env = {**os.environ, "DOCKER_HOST": wharfie_host}
            out.append(Client(name, [WHARFIE], env, ctx))
        elif name == "docker-cli-wharfied":  # the docker CLI against wharfied (legacy API)
            env = {**os.environ, "DOCKER_HOST": wharfie_host, "DOCKER_BUILDKIT": "0"}
            out.append(Client(name, [DOCKER], env, ctx))
        else:
            kit = "1" if name == "buildkit" else "0"
            env = {**os.environ, "DOCKER_HOST": PEER_DOCKER_HOST, "DOCKER_BUILDKIT": kit}
            out.append(Client(name, [DOCKER], env, ctx))
    return out


def run(args: argparse.Namespace) -> int:
    names = [e.strip() for e in args.engines.split(",") if e.strip()]
    import engine as be  # bench/engine.py: its Wharfied

    be.compile_sources()  # as setup.sh does: no compiler time in the wharfie figures
    tmp = Path(tempfile.mkdtemp(prefix="wharfie-bench-build-"))
    daemon = be.Wharfied(tmp / "w")
    (tmp / "w").mkdir()
    rows = {s: Row(s) for s in SCENARIOS}
    try:
        daemon.start()
        env = {**os.environ, "DOCKER_HOST": daemon.host}
        subprocess.run(
            [WHARFIE, "image", "bootstrap", "busybox"],
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        cs = clients(names, tmp, Path(args.context), daemon.host)
        alive = _probe(cs, rows)
        for rnd in range(args.rounds):
            for scenario in SCENARIOS:
                for c in rotated(alive, rnd):
                    if scenario == "changed":
                        c.touch_source()
                    extra = ("--no-cache",) if scenario == "cold" else ()
                    rows[scenario].add(c.name, c.build(*extra))
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr)
        for c in cs:
            c.remove_image()
    finally:
        daemon.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(list(rows.values()), names))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    r.scenario: {
                        "samples": r.samples,
                        "failures": r.failures,
                        "median": {k: median(v) for k, v in r.samples.items() if v},
                        "ratios": {p: r.ratio(p) for p in PEERS if p in names},
                        "docker_cli_ratio": r.ratio("docker", ours=OURS_VIA_DOCKER),
                        "targets": r.verdict(),
                    }
                    for r in rows.values()
                },
                indent=2,
            )
        )
    return 0


def _probe(cs: list[Client], rows: dict[str, Row]) -> list[Client]:
    """One untimed build per engine; an engine that cannot build is reported, not timed."""
    alive = []
    for c in cs:
        try:
            c.build()
            alive.append(c)
        except RuntimeError as exc:
            short = failure_reason(str(exc))
            for row in rows.values():
                row.failures[c.name] = f"FAILED: {short}"
            print(f"[bench] {c.name} cannot build: {exc}", file=sys.stderr)
    return alive


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
