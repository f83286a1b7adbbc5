"""Image transfer benchmarks: pull, push, save, load of a 200 MiB random-data image,
wharfie vs docker (the benchmark peer) vs podman, against a reference registry of our own.

Starts its own wharfied (like bench/engine.py) and Debian's docker-registry on a free
loopback port (tests/support/peers.py); interleaved rounds, medians, ratios. See
bench/README.md, section "Images: bench/images.py".

Run as root: ``.venv/bin/python bench/images.py [--rounds N] [--mib N] [--json FILE]
[--engines wharfie,docker,podman]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import engine as be  # bench/engine.py: its Wharfied, Row, Target, table and log

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


Row, Target, table, log = be.Row, be.Target, be.table, be.log

OPS = ("push", "pull", "save", "load")
TARGETS = {
    "push": [("docker", 0.5), ("podman", 1.0)],
    "pull": [("docker", 0.5), ("podman", 1.0)],
    "save": [("docker", 1.0)],
    "load": [("docker", 1.0)],
}


# ---------------------------------------------------------------- pure helpers


def random_layer_tar(mib: int, chunk: int = 1 << 20) -> bytes:
    """A tar with one file of `mib` MiB of random bytes (incompressible, as the issue says)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        info = tarfile.TarInfo("random.bin")
        info.size = mib * chunk
        info.mode = 0o644
        tf.addfile(info, io.BytesIO(os.urandom(info.size)))
    return buf.getvalue()


def make_rows(engines: Sequence[str], mib: int = 200) -> dict[str, object]:
    rows = {}
    for op in OPS:
        targets = [Target(peer, "le", v) for peer, v in TARGETS[op] if peer in engines]
        rows[op] = Row(f"{op} {mib} MiB image", "s", targets=targets)
    return rows


def parse_engines(text: str) -> list[str]:
    wanted = [e.strip() for e in text.split(",") if e.strip()]
    bad = [e for e in wanted if e not in ("wharfie", "docker", "podman")]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown engine(s) {bad}")
    return wanted


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--mib", type=int, default=200, help="size of the random layer")
    p.add_argument("--engines", type=parse_engines, default=["wharfie", "docker", "podman"])
    p.add_argument("--json", metavar="FILE")
    return p.parse_args(argv)


# ---------------------------------------------------------------- the bench


class ImageBench:
    def __init__(self, args: argparse.Namespace, base: Path, daemon: object) -> None:
        sys.path.insert(0, str(ROOT / "tests"))
        from support.peers import ReferenceRegistry

        self.args = args
        self.base = base
        self.registry = ReferenceRegistry(base / "registry")
        self.timer = be.Timer(base / "stderr.txt")
        cfg = base / "docker-config"
        cfg.mkdir(exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "WHARFIE_HOST")}
        host = daemon.host  # type: ignore[attr-defined]
        self.engines = {
            "wharfie": be.Engine("wharfie", [be.WHARFIE, "-H", host], env, []),
            "docker": be.Engine(
                "docker",
                [be.DOCKER],
                {**env, "DOCKER_CONFIG": str(cfg), "DOCKER_HOST": be.PEER_DOCKER_HOST},
                [],
            ),
            "podman": be.Engine("podman", [be.PODMAN], env, []),
        }
        self.rows = make_rows(args.engines, args.mib)
        self.notes: list[str] = []
        self.tag = f"wbench-img-{secrets.token_hex(3)}"

    def ref(self, engine: str, what: str) -> str:
        return f"{self.registry.addr}/{self.tag}-{engine}-{what}:v1"

    def extra(self, engine: str, op: str) -> list[str]:
        if engine == "podman" and op in ("push", "pull"):
            return ["--tls-verify=false"]
        return []

    def run(self, e: object, *args: str) -> float:
        # Dirty pages one engine left behind would throttle the next one's writes (the VM's
        # disk takes ~270 MB/s once a few hundred MB are dirty): flush them, untimed.
        os.sync()
        return float(self.timer.run(e.cmd(*args), e.env))  # type: ignore[attr-defined]

    def quiet(self, e: object, *args: str) -> None:
        subprocess.run(
            e.cmd(*args),
            env=e.env,
            capture_output=True,  # type: ignore[attr-defined]
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=600,
        )

    def prepare(self) -> None:
        tar = self.base / "layer.tar"
        tar.write_bytes(random_layer_tar(self.args.mib))
        for name in self.args.engines:
            e = self.engines[name]
            e.out("import", str(tar), self.local(name))
        tar.unlink()

    def local(self, engine: str) -> str:
        return f"{self.tag}-{engine}:v1"

    def fresh_registry(self) -> None:
        self.registry.stop()
        shutil.rmtree(self.registry.base / "storage", ignore_errors=True)
        self.registry.start()

    def round(self, k: int) -> None:
        order = be.rotated(self.args.engines, k)
        self.fresh_registry()  # push goes to an empty registry
        for name in order:
            e = self.engines[name]
            ref = self.ref(name, "p")
            self.quiet(e, "tag", self.local(name), ref)
            self.rows["push"].add(name, self.run(e, "push", *self.extra(name, "push"), ref))
        for name in order:  # the image is gone locally (both names) before its pull
            e = self.engines[name]
            ref = self.ref(name, "p")
            self.quiet(e, "rmi", ref, self.local(name))
            self.rows["pull"].add(name, self.run(e, "pull", *self.extra(name, "pull"), ref))
            self.quiet(e, "tag", ref, self.local(name))
            self.quiet(e, "rmi", ref)
        for name in order:
            e = self.engines[name]
            out = self.base / f"{name}.tar"
            self.rows["save"].add(name, self.run(e, "save", "-o", str(out), self.local(name)))
            self.quiet(e, "rmi", self.local(name))
            self.rows["load"].add(name, self.run(e, "load", "-i", str(out)))
            out.unlink()

    def cleanup(self) -> None:
        for name in self.args.engines:
            e = self.engines[name]
            self.quiet(e, "rmi", self.local(name))
            self.quiet(e, "rmi", self.ref(name, "p"))
        self.registry.stop()


def run(args: argparse.Namespace) -> int:
    base = Path(tempfile.mkdtemp(prefix="wharfie-images-bench-"))
    daemon = be.Wharfied(base)
    bench: ImageBench | None = None
    try:
        log(f"starting wharfied in {base}")
        daemon.start()
        bench = ImageBench(args, base, daemon)
        bench.registry.start()
        log(f"registry at {bench.registry.addr}; making a {args.mib} MiB random image")
        bench.prepare()
        for k in range(args.rounds):
            log(f"round {k + 1}/{args.rounds}")
            bench.round(k)
        rows = list(bench.rows.values())
        print(
            f"Image benchmark, {time.strftime('%Y-%m-%d %H:%M %Z')}; rounds={args.rounds}, "
            f"layer={args.mib} MiB random\n"
        )
        print(table(rows))
        if args.json:
            Path(args.json).write_text(
                json.dumps(
                    {
                        "args": {k: v for k, v in vars(args).items()},
                        "rows": [r.to_json() for r in rows],
                    },
                    indent=1,
                )
            )
        return 0
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
        print("bench/images.py must run as root", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
