"""The pure parts of bench/build.py: medians, ratios, rotation, the table and its verdicts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "build.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_build", BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_build"] = mod
    spec.loader.exec_module(mod)
    return mod


bb = _load()


def test_median_ratio_and_format() -> None:
    assert bb.median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError):
        bb.median([])
    assert bb.ratio([0.1, 0.3], [0.4]) == pytest.approx(0.5)
    assert bb.ratio([], [1.0]) is None and bb.ratio([1.0], [0.0]) is None
    assert bb.fmt_ms([0.05, 0.04, 0.06]) == "50 ms (40-60)"
    assert bb.fmt_ms([]) == "—"


def test_rotation_gives_every_engine_every_place() -> None:
    assert bb.rotated(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert bb.rotated(["a", "b", "c"], 3) == ["a", "b", "c"]
    assert bb.rotated([], 2) == []


def test_rows_and_verdicts() -> None:
    cold = bb.Row("cold")
    for v in (0.2, 0.3):
        cold.add("wharfie", v)
    cold.add("docker", 1.0)
    cold.failures["buildkit"] = "FAILED: no buildx"
    assert cold.ratio("docker") == pytest.approx(0.25)
    assert cold.verdict() == "<= 0.5x docker: yes; <= 1x buildkit: n/a"
    cached = bb.Row("cached", {"wharfie": [0.06], "docker": [0.1]})
    assert cached.verdict() == "<= 0.5x docker: NO"
    text = bb.table([cold, cached], ["wharfie", "docker", "buildkit"])
    assert "| cold | 250 ms (200-300) | 1000 ms (1000-1000) | FAILED: no buildx | 0.25x |" in text
    cached.add("docker-cli-wharfied", 0.08)
    text = bb.table([cached], ["wharfie", "docker", "docker-cli-wharfied"])
    assert text.splitlines()[0].endswith("| docker-cli-wharfied/docker | target met? |")
    assert "| 0.60x | 0.80x | <= 0.5x docker: NO |" in text


def test_arguments() -> None:
    a = bb.parse_args(["--rounds", "3", "--engines", "wharfie,docker"])
    assert a.rounds == 3 and a.engines == "wharfie,docker"
    with pytest.raises(SystemExit):
        bb.parse_args(["--rounds", "0"])


def test_failure_reason() -> None:
    out = (
        "buildkit: docker build exited 1: ERROR: BuildKit is enabled but the buildx component "
        "is missing or broken.\n       Install the buildx component\n"
    )
    assert bb.failure_reason(out).startswith("BuildKit is enabled but the buildx component")
    assert bb.failure_reason("a\nlast line\n\n") == "last line"
