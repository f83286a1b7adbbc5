"""The pure parts of bench/images.py: the random layer, rows and targets, arguments."""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "images.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_images", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_images"] = mod
    spec.loader.exec_module(mod)
    return mod


bi = _load()


def test_random_layer_is_one_incompressible_file() -> None:
    data = bi.random_layer_tar(1)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
    assert [m.name for m in members] == ["random.bin"] and members[0].size == 1 << 20
    import zlib

    assert len(zlib.compress(data, 1)) > 0.99 * (1 << 20)


def test_rows_carry_the_issue_targets() -> None:
    rows = bi.make_rows(["wharfie", "docker", "podman"], 200)
    assert [str(t) for t in rows["pull"].targets] == ["<= 0.5x docker", "<= 1x podman"]
    assert [str(t) for t in rows["save"].targets] == ["<= 1x docker"]
    rows["pull"].add("wharfie", 1.0)
    rows["pull"].add("docker", 2.5)
    rows["pull"].add("podman", 2.0)
    assert rows["pull"].met() == "yes"
    assert rows["pull"].name == "pull 200 MiB image"
    only = bi.make_rows(["wharfie", "docker"])
    assert [str(t) for t in only["push"].targets] == ["<= 0.5x docker"]


def test_arguments() -> None:
    a = bi.parse_args(["--rounds", "2", "--mib", "10", "--engines", "wharfie,docker"])
    assert (a.rounds, a.mib, a.engines) == (2, 10, ["wharfie", "docker"])
    with pytest.raises(argparse.ArgumentTypeError):
        bi.parse_engines("wharfie,rkt")
